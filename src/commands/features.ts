import { RunvCommand } from '../cli/runv-command';
import { runtimeFeatures } from '../lifecycle/features';

export default class Features extends RunvCommand<typeof Features> {
  static override summary = 'Print what this runtime supports, as runtime-spec features JSON.';

  async run(): Promise<void> {
    process.stdout.write(JSON.stringify(runtimeFeatures(), null, 2) + '\n');
  }
}
