import { Args, Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { RunvError } from '../core/errors';
import { LifecycleService } from '../lifecycle/lifecycle-service';
import { ShimStats } from '../shim/shim-api';

export default class Events extends RunvCommand<typeof Events> {
  static override summary = "Print a container's resource use as JSON lines, until it stops (then its exit).";
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override flags = {
    stats: Flags.boolean({ summary: 'Print the stats once and exit.' }),
    interval: Flags.string({ summary: 'Time between stats lines (e.g. 5s, 500ms).', default: '5s' }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Events);
    const lifecycle = this.container.get(LifecycleService);
    const intervalMs = parseDuration(this.flags.interval);
    for (;;) {
      const record = lifecycle.store.read(args.id);
      if (record.status === 'stopped') {
        if (this.flags.stats) throw new RunvError('invalid-state', `container ${JSON.stringify(args.id)} is stopped`);
        return print({ type: 'exit', id: args.id, data: { status: record.exitStatus ?? 0 } });
      }
      print({ type: 'stats', id: args.id, data: runcStats(await lifecycle.stats(args.id)) });
      if (this.flags.stats) return;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

function print(event: object): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

/** The fields of runc's stats that a VM seen from libvirt can fill. */
function runcStats(stats: ShimStats): object {
  return { cpu: { usage: { total: stats.cpuTimeNs } }, memory: { usage: { usage: stats.memoryKib * 1024, limit: stats.memoryKib * 1024 } }, vcpus: stats.vcpus };
}

function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!match) throw new RunvError('invalid-argument', `--interval ${JSON.stringify(text)}: use a duration such as 5s or 500ms`);
  const value = Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
  if (value <= 0) throw new RunvError('invalid-argument', `--interval ${text}: must be more than zero`);
  return value;
}
