import { Args } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { LifecycleService } from '../lifecycle/lifecycle-service';

export default class Resume extends RunvCommand<typeof Resume> {
  static override summary = 'Thaw a paused container.';
  static override args = { id: Args.string({ description: 'Container id', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Resume);
    await this.container.get(LifecycleService).resume(args.id);
  }
}
