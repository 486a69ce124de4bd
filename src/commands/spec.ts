import * as fs from 'node:fs';
import * as path from 'node:path';
import { Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { RunvError } from '../core/errors';
import { defaultSpec } from '../oci/default-spec';

export default class Spec extends RunvCommand<typeof Spec> {
  static override summary = 'Write a default config.json into a bundle, like `runc spec`.';
  static override examples = ['<%= config.bin %> spec', '<%= config.bin %> spec --bundle ./mybundle'];
  static override flags = {
    bundle: Flags.string({ char: 'b', summary: 'Bundle directory to write config.json into.', default: '.' }),
    rootless: Flags.boolean({ summary: 'Accepted for runc compatibility; the VM is the isolation either way.' }),
  };

  async run(): Promise<void> {
    const file = path.join(this.flags.bundle, 'config.json');
    try {
      fs.writeFileSync(file, JSON.stringify(defaultSpec(), null, '\t') + '\n', { flag: 'wx' });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new RunvError('already-exists', `${file} already exists: remove it first`);
      throw new RunvError('invalid-argument', `cannot write ${file}: ${code ?? (error as Error).message}`);
    }
  }
}
