import { Args, Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { LifecycleService } from '../lifecycle/lifecycle-service';
import { readResources } from '../lifecycle/update';

export default class Update extends RunvCommand<typeof Update> {
  static override summary = "Change a running container's resources, where its VM can honour it.";
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override flags = { resources: Flags.string({ char: 'r', summary: 'JSON file of linux.resources ("-" for stdin).', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Update);
    const resources = readResources(this.flags.resources);
    await this.container.get(LifecycleService).update(args.id, resources);
  }
}
