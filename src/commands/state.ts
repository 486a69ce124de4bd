import { Args } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { LifecycleService } from '../lifecycle/lifecycle-service';
import { toOciState } from '../lifecycle/oci-state';

/** `runv state ID` normally never reaches oclif (src/cli/fast-path.ts); this serves help and odd flags. */
export default class State extends RunvCommand<typeof State> {
  static override summary = "Print a container's state as the OCI runtime-spec defines it (JSON).";
  static override args = { id: Args.string({ description: 'Container id', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(State);
    const record = this.container.get(LifecycleService).store.read(args.id);
    process.stdout.write(JSON.stringify(toOciState(record), null, 2) + '\n');
  }
}
