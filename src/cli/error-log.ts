import * as fs from 'node:fs';

export type LogFormat = 'text' | 'json';

/**
 * runc's --log: containerd's shim reads the last error from this file (in JSON), so each error
 * runv prints is appended there too, in the format asked for.
 */
export function appendErrorLog(file: string | undefined, format: string | undefined, message: string): void {
  if (!file) return;
  const time = new Date().toISOString();
  const line = format === 'json' ? JSON.stringify({ level: 'error', msg: message, time }) : `time="${time}" level=error msg=${JSON.stringify(message)}`;
  try {
    fs.appendFileSync(file, line + '\n');
  } catch {
    // The error itself is on stderr already; an unwritable log must not replace it.
  }
}
