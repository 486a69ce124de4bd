import { Args } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { LifecycleService } from '../lifecycle/lifecycle-service';

export default class Pause extends RunvCommand<typeof Pause> {
  static override summary = 'Freeze a running container: its whole VM stops running.';
  static override args = { id: Args.string({ description: 'Container id', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Pause);
    await this.container.get(LifecycleService).pause(args.id);
  }
}
