import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { ErrorCode, RunvError } from '../core/errors';

interface Report {
  ok?: true;
  error?: { code: ErrorCode; message: string; exitCode: number };
}

/** Where a detached helper reports; its creator passes a pipe there. */
const REPORT_FD = 3;

/**
 * Called once by a detached helper: ready (no error), or why not. A second call (an error
 * after the helper was ready) and a creator that went away are both fine: nobody listens.
 */
export function reportReady(error?: Error): void {
  try {
    fs.writeSync(REPORT_FD, readyReport(error));
    fs.closeSync(REPORT_FD);
  } catch {
    // EBADF once reported, EPIPE once the creator is gone.
  }
}

/** The one JSON line of a report. */
function readyReport(error?: Error): string {
  if (!error) return JSON.stringify({ ok: true } satisfies Report) + '\n';
  const known = error instanceof RunvError ? error : new RunvError('internal', error.message);
  return JSON.stringify({ error: { code: known.code, message: known.message, exitCode: known.exitCode } } satisfies Report) + '\n';
}

/**
 * Starts a helper process (the shim, an exec relay) in its own session, with the caller's
 * stdio or none, and waits for its report on file descriptor 3. Resolves with its pid: the
 * helper lives on after runv exits, as a child of the caller's subreaper.
 */
export async function launchDetached(script: string, argument: object, stdio: 'inherit' | 'ignore'): Promise<number> {
  const child = spawn(process.execPath, [script, JSON.stringify(argument)], { detached: true, stdio: [stdio, stdio, stdio, 'pipe'] });
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit status ${code}`)));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) => reject(new RunvError('internal', `cannot start ${script}: ${error.message}`)));
  });
  await spawned;
  const report = await readAll(child.stdio[3] as Readable);
  if (!report.trim()) throw new RunvError('internal', `${script} ended before it reported (${await exited})`);
  const parsed = JSON.parse(report) as Report;
  if (parsed.error) throw new RunvError(parsed.error.code, parsed.error.message, { exitCode: parsed.error.exitCode });
  child.unref();
  return child.pid!;
}

function readAll(stream: Readable): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('error', () => resolve(text));
    stream.on('close', () => resolve(text));
  });
}
