import { Logger } from '../core/logger';

/** `--debug`: one line per event on stderr, with the time since start and the subsystem. */
export class StderrLogger implements Logger {
  private readonly start = Date.now();

  constructor(private readonly write: (line: string) => void = (line) => process.stderr.write(line)) {}

  debug(subsystem: string, message: string, fields: Record<string, unknown> = {}): void {
    const extra = Object.entries(fields).map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join('');
    this.write(`runv: debug +${((Date.now() - this.start) / 1000).toFixed(3)}s [${subsystem}] ${message}${extra}\n`);
  }
}
