import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_IMAGES_DIR } from '../src/image/image-layout';
import { Spec } from '../test/support/busybox-bundle';
import { assertSucceeded, hasExited, isReaped, now, sleep, start } from './processes';

/**
 * A runc-compatible runtime as its callers (conmon, containerd's shim) drive it: global flags
 * first, then `create`, `start`, `state`, `delete`.
 */
export interface OciRuntime {
  /** Short, for container ids and file names. */
  readonly key: string;
  /** For the tables. */
  readonly name: string;
  readonly command: string;
  /** Before every subcommand: --root and whatever else the runtime needs on this host. */
  readonly globalArgs: readonly string[];
}

/** A runtime to measure, or why it is left out. */
export type RuntimeChoice = { readonly runtime: OciRuntime } | { readonly skipped: string };

/** Who deletes --force, at clean-up, what a failure left between create and delete. */
export interface ContainerTracker {
  created(runtime: OciRuntime, id: string): void;
  deleted(id: string): void;
}

const CLI_TIMEOUT_MS = 60_000;
/** A create boots runv's VM: generous, as for `runv run`. */
const CREATE_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 60_000;
const STOP_POLL_MS = 5;
/** Past this an orphan's reaping is not waited for: it only explains a slow delete. */
const REAP_TIMEOUT_MS = 10_000;

/** runc sits in /usr/sbin, which a non-login PATH may lack. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** The guest images runv boots in the bench: RUNV_BENCH_IMAGES_DIR, else runv's default. */
export function benchImagesDir(): string {
  return process.env.RUNV_BENCH_IMAGES_DIR ?? DEFAULT_IMAGES_DIR;
}

export function runvRuntime(runv: string, root: string, imagesDir: string): OciRuntime {
  // No --accel: what a caller of the runc interface gets (auto: TCG where KVM does not work).
  return { key: 'runv', name: 'runv', command: runv, globalArgs: ['--root', root, '--images-dir', imagesDir] };
}

export function runcRuntime(root: string): RuntimeChoice {
  const command = findExecutable('runc');
  if (!command) return { skipped: 'runc not found (apt install runc)' };
  return { runtime: { key: 'runc', name: 'runc', command, globalArgs: ['--root', root] } };
}

/** gVisor with its ptrace platform: this host's KVM is nested PVM, and a container needs no network here. */
export function runscRuntime(root: string): RuntimeChoice {
  const command = findExecutable('runsc');
  if (!command) return { skipped: 'runsc not found (apt install runsc)' };
  return { runtime: { key: 'runsc', name: 'runsc (ptrace)', command, globalArgs: ['--root', root, '--platform=ptrace', '--network=none'] } };
}

export const cliArgs = (runtime: OciRuntime, ...args: string[]): string[] => [...runtime.globalArgs, ...args];

/**
 * A bundle from the runtime's own `spec` (runc and runsc want namespaces and capabilities that
 * runv's spec leaves out), running what runv's bundle runs in the same rootfs.
 */
export function ownSpecBundle(command: string, dir: string, rootfs: string, edit: (spec: Spec) => void): string {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync(command, ['spec'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const file = path.join(dir, 'config.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as Spec;
  spec.process!.terminal = false;
  spec.root = { path: rootfs, readonly: false };
  edit(spec);
  fs.writeFileSync(file, JSON.stringify(spec, null, 2));
  return dir;
}

/** Runs a subcommand to completion; throws, quoting stderr, unless it exits 0. Returns its milliseconds. */
export async function invoke(runtime: OciRuntime, args: readonly string[], timeoutMs = CLI_TIMEOUT_MS, stderrFile?: string): Promise<number> {
  const run = await start(runtime.command, cliArgs(runtime, ...args), timeoutMs, stderrFile).finished;
  assertSucceeded(`${runtime.name} ${args.join(' ')}`, run);
  return run.ms;
}

/** The status `state` reports, e.g. 'created' or 'stopped'. */
export async function statusOf(runtime: OciRuntime, id: string): Promise<string> {
  const { stdout } = await promisify(execFile)(runtime.command, cliArgs(runtime, 'state', id), { timeout: CLI_TIMEOUT_MS });
  return (JSON.parse(stdout) as { status: string }).status;
}

/** The container inherits create's stderr: a file beside the pid file, which outlives create. */
export async function createContainer(runtime: OciRuntime, bundle: string, pidFile: string, id: string): Promise<number> {
  return invoke(runtime, ['create', '--bundle', bundle, '--pid-file', pidFile, id], CREATE_TIMEOUT_MS, `${pidFile}.stderr`);
}

export interface Stopped {
  /** The process in the pid file. */
  readonly pid: number;
  /** now() when it was first seen exited. */
  readonly exitedAt: number;
}

/**
 * Until the runtime says the container stopped. The process in the pid file goes first (runv's
 * shim, runc's container process, runsc's sandbox), polled as conmon would wait on it; then
 * `state` confirms, as a caller that is not that process's parent has to ask.
 */
export async function waitStopped(runtime: OciRuntime, id: string, pidFile: string): Promise<Stopped> {
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  const deadline = now() + STOP_TIMEOUT_MS;
  while (!hasExited(pid)) {
    if (now() > deadline) throw new Error(`${runtime.name}: pid ${pid} of container ${id} still runs after ${STOP_TIMEOUT_MS / 1000} s`);
    await sleep(STOP_POLL_MS);
  }
  const exitedAt = now();
  for (;;) {
    const status = await statusOf(runtime, id);
    if (status === 'stopped') return { pid, exitedAt };
    if (now() > deadline) throw new Error(`${runtime.name}: container ${id} is still ${status} after ${STOP_TIMEOUT_MS / 1000} s`);
    await sleep(STOP_POLL_MS);
  }
}

/** now() once the process is gone from /proc, or undefined if it is not within timeoutMs. */
async function whenReaped(pid: number, timeoutMs: number): Promise<number | undefined> {
  const deadline = now() + timeoutMs;
  while (!isReaped(pid)) {
    if (now() > deadline) return undefined;
    await sleep(STOP_POLL_MS);
  }
  return now();
}

export const LIFECYCLE_STEPS = ['create', 'start', 'wait', 'delete'] as const;
export type LifecycleTimes = Record<(typeof LIFECYCLE_STEPS)[number] | 'total', number> & {
  /**
   * From the exit of the process in the pid file to its reaping (NaN if not within
   * REAP_TIMEOUT_MS): an orphan once create exits, it waits for the host's PID 1, and a delete
   * that waits for it pays that.
   */
  readonly reap: number;
};

/** One create / start / wait-until-stopped / delete of a bundle whose process exits at once. */
export async function timeLifecycle(runtime: OciRuntime, bundle: string, pidFile: string, id: string, tracker: ContainerTracker): Promise<LifecycleTimes> {
  const t0 = now();
  tracker.created(runtime, id);
  await createContainer(runtime, bundle, pidFile, id);
  const t1 = now();
  await invoke(runtime, ['start', id]);
  const t2 = now();
  const { pid, exitedAt } = await waitStopped(runtime, id, pidFile);
  const t3 = now();
  const reaped = whenReaped(pid, REAP_TIMEOUT_MS);
  await invoke(runtime, ['delete', id]);
  const t4 = now();
  tracker.deleted(id);
  const reapedAt = await reaped;
  return { create: t1 - t0, start: t2 - t1, wait: t3 - t2, delete: t4 - t3, total: t4 - t0, reap: reapedAt === undefined ? NaN : reapedAt - exitedAt };
}
