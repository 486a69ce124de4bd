import { isReadonly } from '../storage/storage-plan';
import { DomainOwner } from '../core/ports';
import { DriverName, ProcessModel, SandboxModel, VmDisk, VmResources, VmShare, VmStorage, VmTuning } from '../core/model';

/** libvirt's domain type is the driver's name: kvm, qemu (TCG), xen, lxc. */
export type DomainType = DriverName;

/** libvirt keeps a domain's owner, so runv finds its domains without its state dir (core/ports). */
export type { DomainOwner };

/** Everything container-specific that goes into a libvirt domain, in libvirt's terms. */
export interface DomainModel {
  name: string;
  type: DomainType;
  memoryMiB: number;
  vcpus: number;
  kernel: string;
  initrd: string;
  cmdline: string;
  consoleLog: string;
  agentSocket: string;
  shares: VmShare[];
  disks: VmDisk[];
  /** Tap devices that exist before the domain starts (libvirt only opens them), with the guest NIC's MAC. */
  interfaces: DomainInterface[];
  metadata: DomainOwner;
  tuning: VmTuning;
  /** The host's TSC rate: a microvm guest needs it to boot reliably (it cannot calibrate). */
  tscKhz?: number;
}

export interface DomainInterface {
  tap: string;
  mac: string;
}

export const DOMAIN_PREFIX = 'runv-';
export const METADATA_NAMESPACE = 'https://runv.dev/xmlns/container/1';

export const domainName = (id: string): string => `${DOMAIN_PREFIX}${id}`;

/**
 * Boot flags measured on TCG (../shared/HOST.md): quiet console and no crypto self-tests save a
 * few hundred ms; panic=-1 turns a guest panic into a reboot, which the domain turns into exit.
 */
export const KERNEL_CMDLINE = 'console=ttyS0 quiet loglevel=0 cryptomgr.notests no_timer_check tsc=reliable i8042.noaux panic=-1 reboot=t';

export interface HostParts {
  kernel: string;
  initrd: string;
  consoleLog: string;
  agentSocket: string;
  interfaces: DomainInterface[];
  tscKhz?: number;
  root: string;
}

/** Pure: the sandbox model, its storage devices and what lives on the host -> the domain model. */
export function sandboxToDomain(sandbox: SandboxModel, storage: VmStorage, type: DomainType, host: HostParts): DomainModel {
  const vm = { name: domainName(sandbox.id), owner: { id: sandbox.id, bundle: sandbox.bundle, root: host.root }, resources: sandbox.resources, tuning: sandbox.tuning };
  return vmToDomain(vm, storage, type, host);
}

/** A VM as libvirt is to know it: its name and owner, size and tuning. */
export interface VmIdentity {
  name: string;
  owner: DomainOwner;
  resources: VmResources;
  tuning: VmTuning;
}

/** Pure: any runv VM (a container's, or a warm pool's before it has one) -> the domain model. */
export function vmToDomain(vm: VmIdentity, storage: VmStorage, type: DomainType, host: Omit<HostParts, 'root'>): DomainModel {
  return {
    name: vm.name,
    type,
    memoryMiB: vm.resources.memoryMiB,
    vcpus: vm.resources.vcpus,
    kernel: host.kernel,
    initrd: host.initrd,
    cmdline: KERNEL_CMDLINE,
    consoleLog: host.consoleLog,
    agentSocket: host.agentSocket,
    // Shared writable even when root.readonly is set, as runc does: mount points may have to be
    // created in it; guest-init makes the container's own view of it read-only.
    shares: storage.shares,
    disks: storage.disks,
    interfaces: host.interfaces,
    metadata: vm.owner,
    tuning: vm.tuning,
    tscKhz: host.tscKhz,
  };
}

/**
 * A container under libvirt's LXC driver: no VM. The rootfs is the domain's `/`, each bind mount
 * a filesystem of its own, and guest-init the domain's init: it speaks runv's protocol over a
 * unix socket runv listens on, and starts the container's processes as it does in a VM.
 */
export interface LxcDomainModel {
  name: string;
  memoryMiB: number;
  vcpus: number;
  rootfs: string;
  readonlyRoot: boolean;
  binds: { source: string; target: string; readonly: boolean }[];
  init: Pick<ProcessModel, 'args' | 'env' | 'cwd' | 'uid' | 'gid'>;
  metadata: DomainOwner;
  tuning: VmTuning;
}

/**
 * Where the container sees runv's directory (guest-init and the agent socket): under the /dev
 * tmpfs libvirt_lxc makes, so nothing is created in the rootfs, which may be read-only. The
 * container's own /dev (a tmpfs of its spec) hides it from the container's processes.
 */
export const LXC_RUNV_DIR = '/dev/.runv';
export const LXC_GUEST_INIT = 'guest-init';
export const LXC_AGENT_SOCKET = 'agent';

export interface LxcHostParts {
  root: string;
  /** The host directory bound at LXC_RUNV_DIR. */
  runvDir: string;
  /**
   * Prefix through which the LXC daemon reaches runv's paths: `/proc/<runv's pid>/root` when it
   * runs in a mount namespace of its own (scripts/lxc-libvirtd.sh), where later mounts (an
   * overlay rootfs) do not show; '' to describe the domain as the host sees it.
   */
  hostView: string;
}

/** Pure: the sandbox model -> an LXC domain whose init is guest-init. Kernel filesystems are libvirt_lxc's and guest-init's to mount. */
export function sandboxToLxcDomain(sandbox: SandboxModel, host: LxcHostParts): LxcDomainModel {
  const seen = (hostPath: string): string => host.hostView + hostPath;
  const binds = sandbox.container.mounts
    .filter((mount) => mount.type === 'bind')
    .map((mount) => ({ source: seen(mount.source), target: mount.destination, readonly: isReadonly(mount.options) }));
  const inDomain = (name: string): string => `${LXC_RUNV_DIR}/${name}`;
  return {
    name: domainName(sandbox.id),
    memoryMiB: sandbox.resources.memoryMiB,
    vcpus: sandbox.resources.vcpus,
    rootfs: seen(sandbox.rootfsPath),
    readonlyRoot: sandbox.container.readonlyRoot,
    // Read-only: a container process that reaches it cannot replace guest-init; connecting to a socket needs no write access to its filesystem.
    binds: [...binds, { source: seen(host.runvDir), target: LXC_RUNV_DIR, readonly: true }],
    init: { args: [inDomain(LXC_GUEST_INIT), '--connect', inDomain(LXC_AGENT_SOCKET)], env: [], cwd: '/', uid: 0, gid: 0 },
    metadata: { id: sandbox.id, bundle: sandbox.bundle, root: host.root },
    tuning: sandbox.tuning,
  };
}
