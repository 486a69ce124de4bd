import * as fs from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { LifecycleService } from '../lifecycle/lifecycle-service';

const FOLLOW_POLL_MS = 200;

export default class Console extends RunvCommand<typeof Console> {
  static override summary = "Print a container's VM console (kernel and guest-init messages), read-only.";
  static override description = 'Reads the console log in the state directory; it never types into the console. For an interactive console use virsh console runv-<id>.';
  static override examples = ['<%= config.bin %> console demo', '<%= config.bin %> console --follow demo'];
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override flags = { follow: Flags.boolean({ char: 'f', summary: 'Keep printing what the console writes until the VM is gone.' }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Console);
    const lifecycle = this.container.get(LifecycleService);
    let offset = 0;
    for (;;) {
      const { file, live } = await lifecycle.consoleLog(args.id);
      offset += printFrom(file, offset);
      if (!this.flags.follow || !live) return;
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
    }
  }
}

/** Writes the file's bytes from `offset` to stdout; returns how many. A missing file has none yet. */
function printFrom(file: string, offset: number): number {
  let data: Buffer;
  try {
    data = fs.readFileSync(file).subarray(offset);
  } catch {
    return 0;
  }
  process.stdout.write(data);
  return data.length;
}
