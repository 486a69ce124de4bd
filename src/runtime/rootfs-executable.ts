import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunvError } from '../core/errors';
import { ProcessModel } from '../core/model';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MAX_SYMLINKS = 40;

/**
 * Looks the process's program up in the rootfs from the host, as runc does at create: podman,
 * docker and containerd turn runc's wording of a failure into exit codes 127 and 126, and
 * expect it from `create`, not `start`. Returns the program's path in the container.
 */
export function checkExecutable(rootfs: string, process: ProcessModel): string {
  const name = process.args[0];
  const pathVar = process.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const candidates = name.includes('/') ? [path.posix.resolve(process.cwd, name)] : pathVar.split(':').filter(Boolean).map((dir) => path.posix.join(dir, name));
  let denied = false;
  for (const candidate of candidates) {
    const stat = statInRootfs(rootfs, candidate);
    if (stat?.isFile() && stat.mode & 0o111) return candidate;
    if (stat) denied = true;
  }
  if (denied) throw new RunvError('process-not-executable', `exec: ${JSON.stringify(name)}: permission denied`);
  if (name.includes('/')) throw new RunvError('process-not-found', `exec: ${JSON.stringify(name)}: no such file or directory`);
  throw new RunvError('process-not-found', `exec: ${JSON.stringify(name)}: executable file not found in $PATH`);
}

/** Stats a path as the container would see it: symlinks, absolute ones included, stay inside the rootfs. */
function statInRootfs(rootfs: string, file: string): fs.Stats | undefined {
  const pending = file.split('/').filter(Boolean);
  const resolved: string[] = [];
  for (let links = 0; pending.length > 0; ) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = path.join(rootfs, ...resolved, part);
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(host);
    } catch {
      return undefined;
    }
    if (!stat.isSymbolicLink()) {
      resolved.push(part);
      if (pending.length === 0) return stat;
      continue;
    }
    if (++links > MAX_SYMLINKS) return undefined;
    const target = fs.readlinkSync(host);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter(Boolean));
  }
  return fs.statSync(path.join(rootfs, ...resolved));
}
