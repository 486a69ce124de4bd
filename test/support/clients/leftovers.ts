import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Live processes (not zombies: PID 1 here reaps late) whose command line mentions `dir`. */
export function processesMentioning(dir: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || !isAlive(pid)) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`).toString().replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    if (cmdline.includes(dir)) found.push({ pid, cmdline });
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    // The state follows the command name, which is in parentheses and may hold anything.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function killAndWait(pids: number[], timeoutMs = 10_000): Promise<number[]> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    alive = alive.filter(isAlive);
  }
  return alive;
}

/** Mount points at or under `dir` in this mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
  const points = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(dir + path.sep));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts everything under `dir`; returns what would not go even lazily. */
export function unmountUnder(dir: string): string[] {
  // Mounts can be stacked on one point: go round until nothing changes.
  let left = mountsUnder(dir);
  for (let round = 0; round < 5 && left.length > 0; round++) {
    for (const point of left) {
      if (spawnSync('umount', [point], { stdio: 'ignore' }).status !== 0) spawnSync('umount', ['-l', point], { stdio: 'ignore' });
    }
    left = mountsUnder(dir);
  }
  return left;
}

/**
 * Fails if the runtime kept state under its --root for containers the client removed; the
 * entries are removed once reported, so the next test does not report them again.
 */
export function assertRuntimeRootEmpty(runtimeRoot: string): void {
  const kept = fs.existsSync(runtimeRoot) ? fs.readdirSync(runtimeRoot) : [];
  for (const entry of kept) fs.rmSync(path.join(runtimeRoot, entry), { recursive: true, force: true });
  if (kept.length > 0) throw new Error(`the runtime kept state in ${runtimeRoot} for removed containers: ${kept.join(' ')}`);
}
