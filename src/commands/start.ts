import { Args } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { LifecycleService } from '../lifecycle/lifecycle-service';

export default class Start extends RunvCommand<typeof Start> {
  static override summary = 'Run the process of a created container.';
  static override args = { id: Args.string({ description: 'Container id', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Start);
    this.printWarnings(await this.container.get(LifecycleService).start(args.id));
  }
}
