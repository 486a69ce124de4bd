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
    let oomKills: number | undefined;
    let nextStats = 0;
    for (;;) {
      const record = lifecycle.store.read(args.id);
      if (record.status === 'stopped') {
        if (this.flags.stats) throw new RunvError('invalid-state', `container ${JSON.stringify(args.id)} is stopped`);
        return print({ type: 'exit', id: args.id, data: { status: record.exitStatus ?? 0 } });
      }
      const stats = await lifecycle.stats(args.id);
      // An OOM kill shows as a rise of the cgroup's count, checked more often than stats are printed.
      const kills = stats.container?.oomKills;
      if (kills !== undefined && oomKills !== undefined && kills > oomKills) print({ type: 'oom', id: args.id });
      oomKills = kills ?? oomKills;
      if (Date.now() >= nextStats) {
        print({ type: 'stats', id: args.id, data: runcStats(stats) });
        nextStats = Date.now() + intervalMs;
      }
      if (this.flags.stats) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, OOM_POLL_MS)));
    }
  }
}

const OOM_POLL_MS = 1000;

function print(event: object): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

/** runc's stats fields: the container's cgroup in the guest, or the whole VM while it is paused. */
function runcStats(stats: ShimStats): object {
  const vm = { cpuTimeNs: stats.cpuTimeNs, memoryBytes: stats.memoryKib * 1024, vcpus: stats.vcpus };
  const c = stats.container;
  if (!c) return { cpu: { usage: { total: vm.cpuTimeNs } }, memory: { usage: { usage: vm.memoryBytes, limit: vm.memoryBytes } }, vm };
  return { cpu: { usage: { total: c.cpuUsageNs } }, memory: { usage: { usage: c.memoryUsageBytes, limit: c.memoryLimitBytes }, oomKills: c.oomKills }, pids: { current: c.pids }, vm };
}

function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!match) throw new RunvError('invalid-argument', `--interval ${JSON.stringify(text)}: use a duration such as 5s or 500ms`);
  const value = Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
  if (value <= 0) throw new RunvError('invalid-argument', `--interval ${text}: must be more than zero`);
  return value;
}
