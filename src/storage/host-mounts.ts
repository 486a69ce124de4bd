import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTool } from '../image/run-tool';
import { HostBind } from './storage-plan';

/**
 * Bind mounts on the host, through mount(8) (Node has no mount call). They are made in the
 * caller's mount namespace: where QEMU and virtiofsd, started by libvirtd, see the same mounts.
 */
export async function bindEntry(shareDir: string, bind: HostBind): Promise<void> {
  const target = path.join(shareDir, bind.entry);
  if (bind.directory) fs.mkdirSync(target);
  else fs.writeFileSync(target, '', { flag: 'wx' });
  await runTool(['mount', bind.recursive ? '--rbind' : '--bind', bind.source, target]);
  // A bind of a shared mount joins its peer group: unmounting the entry's submounts at delete
  // would then unmount the host's own. As a slave it still sees the host's new mounts.
  await runTool(['mount', '--make-rslave', target]);
  // The VM boundary enforces ro too, submounts included: the share's server gets EROFS.
  if (bind.readonly) {
    for (const mountPoint of [target, ...mountPointsUnder(target)]) await runTool(['mount', '-o', 'remount,bind,ro', mountPoint]);
  }
}

/**
 * Unmounts everything under a share directory and removes it, entry by entry. Nothing is ever
 * removed recursively: an entry that is still a mount point would take the host's files with it.
 */
export async function removeShareDir(shareDir: string): Promise<void> {
  if (!fs.existsSync(shareDir)) return;
  await unmountUnder(shareDir);
  for (const entry of readdirIfThere(shareDir)) removeEntry(path.join(shareDir, entry));
  removeEntry(shareDir);
}

/** Removes a file, or a directory if empty: never recursively. One that is gone is no error. */
export function removeEntry(file: string): void {
  ifThere(() => (fs.lstatSync(file).isDirectory() ? fs.rmdirSync(file) : fs.unlinkSync(file)));
}

/**
 * Unmounts every mount point under `dir` (and `dir` itself, with `itself`), the latest first. A
 * shim whose VM was destroyed may be unmounting the same ones: what it took first is done.
 */
export async function unmountUnder(dir: string, itself = false): Promise<void> {
  const mounted = (): string[] => [...(itself ? mountPoints().filter((m) => m === dir) : []), ...mountPointsUnder(dir)];
  for (const mountPoint of mounted().reverse()) {
    await runTool(['umount', mountPoint]).catch((error: Error) => {
      if (mounted().includes(mountPoint)) throw error;
    });
  }
}

export function readdirIfThere(dir: string): string[] {
  let entries: string[] = [];
  ifThere(() => (entries = fs.readdirSync(dir)));
  return entries;
}

function ifThere(action: () => void): void {
  try {
    action();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Mount points strictly under `dir`, in mount order, from this namespace's mountinfo. */
export function mountPointsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return mountPoints().filter((mountPoint) => mountPoint.startsWith(prefix));
}

function mountPoints(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => unescapeMountinfo(line.split(' ')[4]));
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
