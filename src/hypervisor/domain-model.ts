import { SandboxModel, VmDisk, VmShare, VmStorage } from '../core/model';

export type DomainType = 'kvm' | 'qemu';

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
  metadata: { id: string; bundle: string };
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
    metadata: { id: sandbox.id, bundle: sandbox.bundle },
    tscKhz: host.tscKhz,
  };
}
