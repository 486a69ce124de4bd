import { Args, Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { parseSignal } from '../cli/signals';
import { LifecycleService } from '../lifecycle/lifecycle-service';

export default class Kill extends RunvCommand<typeof Kill> {
  static override summary = "Send a signal to a container's init process (or to all its processes).";
  static override examples = ['<%= config.bin %> kill demo', '<%= config.bin %> kill demo KILL', '<%= config.bin %> kill --all demo 9'];
  static override args = {
    id: Args.string({ description: 'Container id', required: true }),
    signal: Args.string({ description: 'Signal name (TERM, SIGKILL) or number', default: 'TERM' }),
  };
  static override flags = { all: Flags.boolean({ char: 'a', summary: 'Signal every process of the container.' }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Kill);
    await this.container.get(LifecycleService).kill(args.id, parseSignal(args.signal), this.flags.all);
  }
}
