import { Args, Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { runInForeground } from '../cli/fast-run';
import { containerFlags, refusePreservedFds } from '../cli/container-flags';
import { RunvError } from '../core/errors';
import { LifecycleService } from '../lifecycle/lifecycle-service';

export default class Run extends RunvCommand<typeof Run> {
  static override summary = 'Run a container in a fresh VM, in the foreground, and exit with its status.';
  static override examples = ['<%= config.bin %> run --bundle ./mybundle demo', 'echo hi | <%= config.bin %> run --bundle ./b cat1', '<%= config.bin %> run --bundle ./b -t shell'];
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override flags = {
    ...containerFlags,
    tty: Flags.boolean({ char: 't', summary: 'Give the process a terminal, whatever config.json says.', allowNo: true }),
    detach: Flags.boolean({ char: 'd', summary: 'Create and start the container, then return (like create + start).' }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Run);
    refusePreservedFds(this.flags['preserve-fds']);
    if (this.flags.detach) return this.runDetached(args.id);
    if (this.flags['console-socket'] || this.flags['pid-file']) {
      throw new RunvError('invalid-argument', '--console-socket and --pid-file need --detach: a foreground run uses its own terminal and is its own process');
    }
    await runInForeground(this.container, args.id, this.flags.bundle, this.flags.tty);
  }

  private async runDetached(id: string): Promise<void> {
    const lifecycle = this.container.get(LifecycleService);
    await lifecycle.create({ id, bundle: this.flags.bundle, pidFile: this.flags['pid-file'], consoleSocket: this.flags['console-socket'], debug: this.flags.debug });
    try {
      this.printWarnings(await lifecycle.start(id));
    } catch (error) {
      await lifecycle.delete(id, true).catch(() => undefined);
      throw error;
    }
  }
}
