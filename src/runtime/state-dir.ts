/**
 * A container id's state directory doubles as its lock: whoever creates it owns the id, and
 * records its pid there so that a later run can tell a live owner from a killed one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunvError } from '../core/errors';
import { CleanupStack } from './cleanup-stack';
import { SandboxPaths } from './sandbox-paths';

/** Longer than any owner takes between creating the directory and writing its pid. */
const OWNERLESS_STALE_MS = 30_000;

/** Claims the id's state directory (reclaiming a stale one); the cleanup removes it. */
export function claimStateDir(id: string, paths: SandboxPaths, cleanup: CleanupStack): void {
  fs.mkdirSync(path.dirname(paths.stateDir), { recursive: true, mode: 0o711 });
  if (!tryMkdir(paths.stateDir)) {
    if (!isStale(paths)) throw inUse(id, `${paths.stateDir} exists`);
    // Left by a runv that was killed: its VM powered itself off when the channel closed.
    fs.rmSync(paths.stateDir, { recursive: true, force: true });
    if (!tryMkdir(paths.stateDir)) throw inUse(id, `${paths.stateDir} exists`);
  }
  cleanup.push('remove state directory', () => fs.rmSync(paths.stateDir, { recursive: true, force: true }));
  fs.writeFileSync(paths.ownerPid, `${process.pid}\n`);
}

export function inUse(id: string, why: string): RunvError {
  return new RunvError('already-exists', `container id ${JSON.stringify(id)} is already in use (${why})`);
}

/** mkdir is the lock: of two runs with one id, exactly one creates the directory. */
function tryMkdir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { mode: 0o711 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * A state directory whose owner process is gone. One without an owner is being created, unless
 * it is older than any creation takes (its runv died between mkdir and writing its pid).
 */
function isStale(paths: SandboxPaths): boolean {
  let pid = NaN;
  try {
    pid = Number(fs.readFileSync(paths.ownerPid, 'utf8'));
  } catch {
    // No pid yet: being created, or its creator died right after mkdir.
  }
  if (!Number.isInteger(pid) || pid <= 0) return ageMs(paths.stateDir) > OWNERLESS_STALE_MS;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}
