import * as fs from 'node:fs';
import { inject, injectable } from 'inversify';
import { RunvError } from '../core/errors';
import { Logger } from '../core/logger';
import { SandboxModel } from '../core/model';
import { CleanupStack } from '../runtime/cleanup-stack';
import { RuntimeConfig } from '../runtime/runtime-config';
import { sandboxPaths } from '../runtime/sandbox-paths';
import { inspectDiskImage } from './disk-image';
import { bindEntry, removeShareDir } from './host-mounts';
import { planStorage, StorageFacts, StoragePlan } from './storage-plan';

/**
 * The container's files on their way into its VM: which shares and disks the domain gets, what
 * the guest mounts, and the host side of bind mounts. `plan` only reads the host, so bad input
 * fails before anything exists; `prepare` makes what the plan needs and leaves its undoing.
 */
@injectable()
export class StorageService {
  constructor(
    @inject(RuntimeConfig) private readonly config: RuntimeConfig,
    @inject(Logger) private readonly log: Logger,
  ) {}

  async plan(sandbox: SandboxModel): Promise<StoragePlan> {
    const facts: StorageFacts = {
      rootfs: sandbox.storage === 'block' ? await inspectDiskImage(sandbox.rootfsPath) : directoryRootfs(sandbox.rootfsPath),
      directories: bindDirectories(sandbox),
      shareDir: sandboxPaths(this.config, sandbox.id).shareDir,
      hostView: hostView(),
    };
    return planStorage(sandbox, facts);
  }

  /** Binds the sources under the container's share directory; `cleanup` unmounts and removes them. */
  async prepare(plan: StoragePlan, cleanup: CleanupStack): Promise<void> {
    if (plan.binds.length === 0) return;
    // A share directory left by a runv that died is this id's: it goes before the new one.
    await removeShareDir(plan.shareDir);
    fs.mkdirSync(plan.shareDir, { recursive: true, mode: 0o700 });
    cleanup.push('remove the share directory', () => removeShareDir(plan.shareDir));
    for (const bind of plan.binds) await bindEntry(plan.shareDir, bind);
    this.log.debug('storage', `${plan.binds.length} bind sources under ${plan.shareDir}`, { id: plan.container.id, driver: plan.driver });
  }

  /** What `prepare` left for a container whose shim did not live to undo it. */
  removeLeftovers(id: string): Promise<void> {
    return removeShareDir(sandboxPaths(this.config, id).shareDir);
  }
}

/** Where the libvirt daemon that starts QEMU writes its pid: monolithic, or the modular QEMU daemon. */
const LIBVIRT_PID_FILES = ['/run/libvirtd.pid', '/run/virtqemud.pid'];

/**
 * '' when runv shares the libvirt daemon's mount namespace (or cannot tell); in another one,
 * the path through which that daemon's QEMU sees runv's files.
 */
function hostView(): string {
  const daemon = LIBVIRT_PID_FILES.map(readTrimmed).find(Boolean);
  const theirs = daemon && mountNamespace(daemon);
  return !theirs || theirs === mountNamespace('self') ? '' : `/proc/${process.pid}/root`;
}

function mountNamespace(pid: string): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

function readTrimmed(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function directoryRootfs(rootfs: string): StorageFacts['rootfs'] {
  if (!fs.statSync(rootfs).isDirectory()) {
    throw new RunvError('invalid-spec', `config.json: root.path: ${rootfs} is not a directory (disk images need the block storage driver: annotation io.runv.storage=block)`);
  }
  return { kind: 'directory' };
}

/** Every bind source must exist now: the error names it, before a VM boots. */
function bindDirectories(sandbox: SandboxModel): Set<string> {
  const directories = new Set<string>();
  for (const mount of sandbox.container.mounts.filter((m) => m.type === 'bind')) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(mount.source);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new RunvError('not-found', `config.json: mounts: source ${mount.source} of ${mount.destination} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`);
    }
    if (stat.isDirectory()) directories.add(mount.source);
  }
  return directories;
}
