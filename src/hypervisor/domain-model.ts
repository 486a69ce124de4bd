import { isReadonly } from '../storage/storage-plan';
import { DomainOwner } from '../core/ports';
import { DriverName, ProcessModel, SandboxModel, VmDisk, VmShare, VmStorage, VmTuning } from '../core/model';

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
  return {
    name: domainName(sandbox.id),
    type,
    memoryMiB: sandbox.resources.memoryMiB,
    vcpus: sandbox.resources.vcpus,
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
    metadata: { id: sandbox.id, bundle: sandbox.bundle, root: host.root },
    tuning: sandbox.tuning,
    tscKhz: host.tscKhz,
  };
}

/**
 * A container under libvirt's LXC driver: no VM, no guest-init. The rootfs is the domain's `/`,
 * each bind mount a filesystem of its own, and the container's process is the domain's init.
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
 * Pure: the sandbox model -> an LXC domain. libvirt wants the init as an absolute path: the
 * caller looked the program up in the rootfs. Kernel filesystems are libvirt_lxc's to mount.
 */
export function sandboxToLxcDomain(sandbox: SandboxModel, root: string, initPath: string): LxcDomainModel {
  const { env, cwd, uid, gid } = sandbox.process;
  const args = [initPath, ...sandbox.process.args.slice(1)];
  return {
    name: domainName(sandbox.id),
    memoryMiB: sandbox.resources.memoryMiB,
    vcpus: sandbox.resources.vcpus,
    rootfs: sandbox.rootfsPath,
    readonlyRoot: sandbox.container.readonlyRoot,
    binds: sandbox.container.mounts
      .filter((mount) => mount.type === 'bind')
      .map((mount) => ({ source: mount.source, target: mount.destination, readonly: isReadonly(mount.options) })),
    init: { args, env, cwd, uid, gid },
    metadata: { id: sandbox.id, bundle: sandbox.bundle, root },
    tuning: sandbox.tuning,
  };
}
