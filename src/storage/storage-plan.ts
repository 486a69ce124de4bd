import { RunvError } from '../core/errors';
import { ContainerModel, GuestMount, GuestShare, SandboxModel, StorageDriverName, VmDisk, VmShare, VmStorage } from '../core/model';

/**
 * Pure: how a container's files reach its VM, given what the storage service found on the host.
 * The rootfs is a share (9p, virtiofs) or a disk (block). Bind sources all go through one more
 * share per container, a host directory holding one entry per bind mount: a VM that is already
 * running (a warm pool, later) could take new entries there without a new device.
 */
export const ROOTFS_TAG = 'rootfs';
export const MOUNTS_TAG = 'mounts';
/** The one disk of a block rootfs: the guest's first virtio disk. */
export const ROOTFS_DISK = 'vda';
const XEN_ROOTFS_DISK = 'xvda';
/** cache=mmap: without it 9p refuses shared writable mappings (EINVAL), which databases and iperf3 use. */
const NINE_P_OPTIONS = 'trans=virtio,version=9p2000.L,msize=262144,cache=mmap';

export type ShareDriver = VmShare['driver'];
export type DiskFormat = VmDisk['format'];
export type DiskFilesystem = 'ext4' | 'xfs';

/** One bind mount's source, bound at `<shareDir>/<entry>` on the host before the VM boots. */
export interface HostBind {
  source: string;
  entry: string;
  directory: boolean;
  readonly: boolean;
  recursive: boolean;
}

/** What the storage service learned about the host paths a sandbox names. */
export interface StorageFacts {
  rootfs: { kind: 'directory' } | { kind: 'file' | 'block'; format: DiskFormat; filesystem: DiskFilesystem };
  /** Bind sources that are directories (the others are files). */
  directories: ReadonlySet<string>;
  /** The container's own share directory on the host. */
  shareDir: string;
  /**
   * How the hypervisor reaches runv's paths: '' when runv runs in the host's mount namespace,
   * else `/proc/<runv's pid>/root` (buildah runs the runtime in a private one, where it mounts
   * the rootfs, and libvirt's QEMU sees only the host's).
   */
  hostView: string;
}

export interface StoragePlan extends VmStorage {
  driver: StorageDriverName;
  shareDir: string;
  /** As StorageFacts' hostView: '' when QEMU sees runv's paths as they are. */
  hostView: string;
  binds: HostBind[];
  container: ContainerModel;
}

export function planStorage(sandbox: SandboxModel, facts: StorageFacts): StoragePlan {
  const driver = sandbox.storage;
  // The block driver's binds still need a share: 9p asks nothing more of the domain.
  const shareDriver: ShareDriver = driver === 'virtiofs' ? 'virtiofs' : '9p';
  const binds: HostBind[] = [];
  const mounts = sandbox.container.mounts.map((mount) => (mount.type === 'bind' ? bindThroughShare(mount, facts, binds) : mount));
  const shares: VmShare[] = [];
  const guestShares: GuestShare[] = [];
  if (facts.hostView && shareDriver === 'virtiofs') {
    throw new RunvError('invalid-argument', "the virtiofs storage driver cannot reach a rootfs in runv's private mount namespace (podman build does that): use 9p");
  }
  const seen = (hostPath: string): string => facts.hostView + hostPath;
  if (facts.rootfs.kind === 'directory') shares.push({ driver: shareDriver, source: seen(sandbox.rootfsPath), tag: ROOTFS_TAG });
  if (binds.length > 0) {
    shares.push({ driver: shareDriver, source: seen(facts.shareDir), tag: MOUNTS_TAG });
    guestShares.push({ name: MOUNTS_TAG, ...guestMountOf(shareDriver, MOUNTS_TAG) });
  }
  const rootfs =
    facts.rootfs.kind === 'directory'
      ? guestMountOf(shareDriver, ROOTFS_TAG)
      : { source: `/dev/${ROOTFS_DISK}`, fstype: facts.rootfs.filesystem, options: '' };
  const disks: VmDisk[] = facts.rootfs.kind === 'directory' ? [] : [{ kind: facts.rootfs.kind, source: seen(sandbox.rootfsPath), format: facts.rootfs.format, target: ROOTFS_DISK }];
  const { readonlyRoot, ...container } = sandbox.container;
  return {
    driver,
    shares,
    disks,
    shareDir: facts.shareDir,
    hostView: facts.hostView,
    binds,
    container: { ...container, rootfs: { ...rootfs, readonly: readonlyRoot }, shares: guestShares, mounts },
  };
}

function guestMountOf(driver: ShareDriver, tag: string): { source: string; fstype: string; options: string } {
  return driver === '9p' ? { source: tag, fstype: '9p', options: NINE_P_OPTIONS } : { source: tag, fstype: 'virtiofs', options: '' };
}

/** The guest binds `<share>/<entry>`; the host binds the source there, read-only too when asked. */
function bindThroughShare(mount: GuestMount, facts: StorageFacts, binds: HostBind[]): GuestMount {
  const entry = String(binds.length);
  binds.push({
    source: mount.source,
    entry,
    directory: facts.directories.has(mount.source),
    readonly: isReadonly(mount.options),
    recursive: mount.options.includes('rbind'),
  });
  return { ...mount, source: `${MOUNTS_TAG}/${entry}` };
}

/**
 * Under the lxc driver the domain's `/` is already the rootfs and libvirt binds each source at
 * its destination (domain-model.ts): guest-init mounts only the kernel filesystems, no share.
 * No cgroup files either: the host's cgroups are libvirt's there, and the domain's `<memory>`
 * (the spec's memory limit) limits the whole container; guest-init has no hierarchy to write.
 */
export function lxcContainer(sandbox: SandboxModel): ContainerModel {
  const { readonlyRoot, ...container } = sandbox.container;
  const mounts = container.mounts.filter((mount) => mount.type !== 'bind');
  return { ...container, rootfs: { source: '/', fstype: '', options: '', readonly: readonlyRoot }, shares: [], mounts, cgroup: {} };
}

/** The last of `ro` and `rw` wins, as mount(8) reads options. */
export function isReadonly(options: readonly string[]): boolean {
  return options.filter((o) => o === 'ro' || o === 'rw').pop() === 'ro';
}

/**
 * The same plan for a Xen guest: 9p goes over Xen's transport and the disk is the first Xen
 * block device. virtio-fs has no Xen transport.
 */
export function onXen(plan: StoragePlan): StoragePlan {
  if (plan.driver === 'virtiofs') throw new RunvError('invalid-argument', 'the virtiofs storage driver needs virtio: with --driver xen use 9p or block');
  const xen = (options: string): string => options.replace('trans=virtio', 'trans=xen');
  const { container } = plan;
  return {
    ...plan,
    disks: plan.disks.map((disk) => ({ ...disk, target: XEN_ROOTFS_DISK })),
    container: {
      ...container,
      rootfs: { ...container.rootfs, source: container.rootfs.source.replace(`/dev/${ROOTFS_DISK}`, `/dev/${XEN_ROOTFS_DISK}`), options: xen(container.rootfs.options) },
      shares: container.shares.map((share) => ({ ...share, options: xen(share.options) })),
    },
  };
}
