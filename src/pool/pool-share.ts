import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTool } from '../image/run-tool';
import { bindEntry, readdirIfThere, removeEntry, removeShareDir, unmountUnder } from '../storage/host-mounts';
import { HostBind } from '../storage/storage-plan';
import { POOL_MOUNTS_ENTRY, POOL_ROOTFS_ENTRY, PoolVmPaths } from './pool-layout';

/**
 * A pool VM's share on the host. QEMU exports `share`, a read-only bind of `store`: the guest
 * cannot add, rename or replace what the host put there (a symlink in place of `mounts` would
 * lead the release's removal out of the share). Binds made under it after boot reach QEMU's
 * mount namespace, a slave of the share since QEMU started. A bind that must be read-only is
 * made so in `stage`, a private mount, before it moves under the share: a remount would only
 * change the host's copy, not the one QEMU already got.
 */

/** Made before the VM boots, with the rootfs mount point and the directory of bind entries. */
export async function makeShare(paths: PoolVmPaths): Promise<void> {
  for (const dir of [paths.store, path.join(paths.store, POOL_ROOTFS_ENTRY), path.join(paths.store, POOL_MOUNTS_ENTRY), paths.share, paths.stage]) fs.mkdirSync(dir, { mode: 0o755 });
  await runTool(['mount', '--bind', paths.store, paths.share]);
  await runTool(['mount', '-o', 'remount,bind,ro', paths.share]);
  // Private first: a bind under a shared `/` (systemd's default) would join `/`'s peer group.
  await runTool(['mount', '--make-private', paths.share]);
  await runTool(['mount', '--make-shared', paths.share]);
  await runTool(['mount', '--bind', paths.stage, paths.stage]);
  await runTool(['mount', '--make-private', paths.stage]);
}

/** Binds a source at `entry` of the share (`rootfs`, or `mounts/<n>`), read-only too when asked. */
export async function bindIntoShare(paths: PoolVmPaths, entry: string, bind: HostBind): Promise<void> {
  const mountPoint = path.join(paths.store, entry);
  if (entry !== POOL_ROOTFS_ENTRY) {
    if (bind.directory) fs.mkdirSync(mountPoint);
    else fs.writeFileSync(mountPoint, '', { flag: 'wx' });
  }
  const staged = entry.replace(/\//g, '-');
  await bindEntry(paths.stage, { ...bind, entry: staged });
  await runTool(['mount', '--move', path.join(paths.stage, staged), path.join(paths.share, entry)]);
  removeEntry(path.join(paths.stage, staged));
}

/**
 * Unmounts everything the share and the stage hold, then removes the mount points the host
 * made, one by one: never recursively. Call it once QEMU is gone.
 */
export async function removeShare(paths: PoolVmPaths): Promise<void> {
  await unmountUnder(paths.share, true);
  await unmountUnder(paths.stage, true);
  await removeShareDir(path.join(paths.store, POOL_MOUNTS_ENTRY));
  for (const entry of readdirIfThere(paths.stage)) removeEntry(path.join(paths.stage, entry));
  for (const dir of [path.join(paths.store, POOL_ROOTFS_ENTRY), paths.store, paths.share, paths.stage]) removeEntry(dir);
}
