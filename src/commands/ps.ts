import { Args, Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { LifecycleService } from '../lifecycle/lifecycle-service';
import { table } from './list';

export default class Ps extends RunvCommand<typeof Ps> {
  static override summary = "List a container's processes with the pids its VM gives them (JSON: the host pids standing for them).";
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override flags = { format: Flags.string({ char: 'f', summary: 'Output format.', options: ['table', 'json'], default: 'table' }) };
  // runc passes trailing arguments to ps(1); the guest has no ps to pass them to.
  static override strict = false;

  async run(): Promise<void> {
    const { args } = await this.parse(Ps);
    const { processes, hostPids } = await this.container.get(LifecycleService).processes(args.id);
    // runc's callers match the JSON pids against the pids they were given: the shim's and the exec relays'.
    if (this.flags.format === 'json') {
      process.stdout.write(JSON.stringify(hostPids) + '\n');
      return;
    }
    const rows = processes.map((p) => [String(p.uid), String(p.pid), String(p.ppid), p.command]);
    process.stdout.write(table(['UID', 'PID', 'PPID', 'CMD'], rows));
  }
}
