import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';

/** Milliseconds on the monotonic clock, for intervals only. */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

export interface Finished {
  /** From just before spawn to the exit event. */
  readonly ms: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

export interface Started {
  readonly child: ChildProcess;
  /** now() just before the spawn: the zero of this run's timeline. */
  readonly t0: number;
  readonly finished: Promise<Finished>;
}

/**
 * Every child the bench starts, so that a failure or Ctrl-C kills what is still running
 * (the caller then destroys any domain a killed runv left behind).
 */
export const liveChildren = new Set<ChildProcess>();

/**
 * Spawns with stdin/stdout ignored and stderr kept for the error message; kills after timeoutMs.
 * With stderrFile, stderr goes to that file rather than a pipe and the wait ends at the exit:
 * a runtime's `create` hands its stdio on to the container (runv's shim, runc's init), which
 * would hold a pipe open until the container is gone.
 */
export function start(command: string, args: readonly string[], timeoutMs: number, stderrFile?: string): Started {
  const t0 = now();
  const stderrFd = stderrFile === undefined ? undefined : fs.openSync(stderrFile, 'w');
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', stderrFd ?? 'pipe'] });
  if (stderrFd !== undefined) fs.closeSync(stderrFd);
  liveChildren.add(child);
  const finished = new Promise<Finished>((resolve, reject) => {
    let stderr = '';
    let exited: Omit<Finished, 'stderr'> | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const end = (run: Finished): void => {
      clearTimeout(timer);
      liveChildren.delete(child);
      resolve(run);
    };
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      reject(error);
    });
    // The exit event ends the timing; through a pipe, close (stderr drained) ends the wait.
    child.once('exit', (code, signal) => {
      exited = { ms: now() - t0, code, signal };
      if (stderrFile !== undefined) end({ ...exited, stderr: fs.readFileSync(stderrFile, 'utf8') });
    });
    child.once('close', (code, signal) => {
      if (stderrFile === undefined) end({ ...(exited ?? { ms: now() - t0, code, signal }), stderr });
    });
  });
  return { child, t0, finished };
}

/** Throws unless the run exited 0, quoting its stderr. */
export function assertSucceeded(what: string, run: Finished): void {
  if (run.code === 0) return;
  const how = run.signal ? `was killed by ${run.signal}` : `exited ${run.code}`;
  throw new Error(`${what} ${how} after ${(run.ms / 1000).toFixed(1)} s${run.stderr.trim() ? `:\n${run.stderr.trim()}` : ''}`);
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** The arguments of a running process, or undefined once it is gone. */
export function processArgs(pid: number): string[] | undefined {
  return readProc(pid, 'cmdline')?.split('\0').slice(0, -1);
}

/** The QEMU libvirt started for a domain: its command line names it `-name guest=<domain>,...`. */
export function findQemuOf(domain: string): number | undefined {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = processArgs(Number(entry));
    if (args?.some((a) => a === `guest=${domain}` || a.startsWith(`guest=${domain},`))) return Number(entry);
  }
  return undefined;
}

/** How many QEMUs run now: between the bench's own runs, any is someone else's noise. */
export function countQemus(): number {
  return fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry) && processArgs(Number(entry))?.[0]?.includes('qemu-system-')).length;
}

/**
 * True once the process has exited, zombie included: a zombie is waiting for its parent (here
 * the host's PID 1, which reaps late) and no longer runs anything.
 */
export function hasExited(pid: number): boolean {
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return true;
  // The state follows the parenthesised command name, which may itself contain spaces.
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

/** True once the process is gone from /proc: exited and reaped by its parent. */
export function isReaped(pid: number): boolean {
  return readProc(pid, 'stat') === undefined;
}

/**
 * True once QEMU's first vCPU thread (named "CPU 0/TCG" with -name ...,debug-threads=on) has
 * used CPU time: the guest runs. libvirt starts QEMU paused (-S) and lets it run later.
 */
export function vcpuHasRun(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tasks.some((tid) => {
    if (!readProc(pid, `task/${tid}/comm`)?.startsWith('CPU 0/')) return false;
    const stat = readProc(pid, `task/${tid}/stat`) ?? '';
    // utime and stime are the 12th and 13th fields after the parenthesised command name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]) > 0;
  });
}

/** CPU time the process used so far (user + system, every thread), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readProc(pid, 'stat');
  if (stat === undefined) throw new Error(`no stat for pid ${pid}: has it exited?`);
  // utime and stime are the 12th and 13th fields after the parenthesised command name, in ticks.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** USER_HZ: 100 on every Linux architecture runv runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** VmRSS in bytes, from /proc/<pid>/status. */
export function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readProc(pid, 'status') ?? '');
  if (!match) throw new Error(`no VmRSS for pid ${pid}: has it exited?`);
  return Number(match[1]) * 1024;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
