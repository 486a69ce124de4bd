import { Args, Flags } from '@oclif/core';
import { RunvCommand } from '../cli/runv-command';
import { RunService } from '../runtime/run-service';

export default class Run extends RunvCommand<typeof Run> {
  static override summary = 'Run a container in a fresh VM, in the foreground, and exit with its status.';
  static override examples = ['<%= config.bin %> run --bundle ./mybundle demo', 'echo hi | <%= config.bin %> run --bundle ./b cat1', '<%= config.bin %> run --bundle ./b -t shell'];
  static override args = { id: Args.string({ description: 'Container id', required: true }) };
  static override flags = {
    bundle: Flags.string({ char: 'b', summary: 'Path to the OCI bundle.', default: '.' }),
    tty: Flags.boolean({ char: 't', summary: 'Give the process a terminal, whatever config.json says.', allowNo: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Run);
    const status = await this.container.get(RunService).run({
      id: args.id,
      bundle: this.flags.bundle,
      terminal: this.flags.tty,
      stdio: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
      signals: process,
    });
    process.exitCode = status;
  }
}
