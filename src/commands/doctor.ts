import { RunvCommand } from '../cli/runv-command';
import { HostChecks } from '../doctor/host-checks';

export default class Doctor extends RunvCommand<typeof Doctor> {
  static override summary = 'Check what this host has and lacks for runv, one line each, with the fix.';
  static override examples = ['<%= config.bin %> doctor'];

  async run(): Promise<void> {
    const results = await this.container.get(HostChecks).run();
    for (const r of results) {
      process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name.padEnd(12)} ${r.detail}${r.ok || !r.fix ? '' : ` (fix: ${r.fix})`}\n`);
    }
    if (results.some((r) => !r.ok)) process.exitCode = 1;
  }
}
