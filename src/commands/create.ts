import { Args } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { containerFlags, refusePreservedFds } from '../cli/container-flags';
import { LifecycleService } from '../lifecycle/lifecycle-service';

export default class Create extends RunvCommand<typeof Create> {
  static override summary = 'Create a container: boot its VM and prepare its process, which `start` runs.';
  static override examples = ['<%= config.bin %> create --bundle ./mybundle --pid-file shim.pid demo'];
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override flags = containerFlags;

  async run(): Promise<void> {
    const { args } = await this.parse(Create);
    refusePreservedFds(this.flags['preserve-fds']);
    await this.container.get(LifecycleService).create({
      id: args.id,
      bundle: this.flags.bundle,
      pidFile: this.flags['pid-file'],
      consoleSocket: this.flags['console-socket'],
      debug: this.flags.debug,
    });
  }
}
