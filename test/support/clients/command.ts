import { ChildProcess, spawn } from 'node:child_process';

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Kill the command (SIGKILL) after this long: a hung client must fail the test, not the suite. */
  timeoutMs?: number;
}

/** A command still running: `child` to signal it or watch its output, itself a promise of its end. */
export type Running = Promise<Result> & { child: ChildProcess; output: () => string };

/** Runs a command to completion and collects everything; never rejects on a non-zero exit. */
export function run(file: string, args: string[], options: RunOptions = {}): Running {
  const child = spawn(file, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(options.input ?? '');
  const done = new Promise<Result>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
  return Object.assign(done, { child, output: () => Buffer.concat(out).toString() });
}

/** Like `run`, but rejects with the command line and its output unless it exits 0. */
export async function check(file: string, args: string[], options: RunOptions = {}): Promise<Result> {
  const r = await run(file, args, options);
  if (r.status !== 0) throw new Error(`${[file, ...args].join(' ')} exited ${r.status ?? r.signal}:\n${r.stderr}${r.stdout}`);
  return r;
}

export function shellQuote(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * Runs a command with a pseudo-terminal as its stdin/stdout/stderr, as from a user's shell:
 * `-t` clients refuse to start or behave differently without one. script(1) makes the pty and
 * passes the command's exit status through (-e); the output is what the terminal showed,
 * so lines end in \r\n.
 */
export function runInTerminal(file: string, args: string[], options: RunOptions = {}): Running {
  return run('script', ['-qec', shellQuote([file, ...args]), '/dev/null'], options);
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
