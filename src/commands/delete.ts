import { Args, Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { LifecycleService } from '../lifecycle/lifecycle-service';

export default class Delete extends RunvCommand<typeof Delete> {
  static override summary = 'Delete a stopped container and everything runv made for it.';
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override flags = { force: Flags.boolean({ char: 'f', summary: 'End a container that is still running first.' }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Delete);
    this.printWarnings(await this.container.get(LifecycleService).delete(args.id, this.flags.force));
  }
}
