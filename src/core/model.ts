/**
 * The sandbox model: what runv needs to know to run one container in one VM, translated from
 * the OCI spec (src/oci) and consumed by the domain XML builder and the agent. No I/O here.
 */
export interface Rlimit {
  type: string;
  soft: bigint;
  hard: bigint;
}

export interface ProcessModel {
  containerId: string;
  processId: string;
  init: boolean;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  umask?: number;
  rlimits: Rlimit[];
  noNewPrivileges: boolean;
  terminal: boolean;
  rows?: number;
  cols?: number;
}

/**
 * A filesystem the guest mounts inside the container: a kernel filesystem (proc, tmpfs, ...)
 * or a `bind`. A bind's source is a host path in the translated spec; the storage service
 * turns it into `<share name>/<entry>`, a path inside one of the container's shares.
 */
export interface GuestMount {
  type: string;
  source: string;
  destination: string;
  options: string[];
}

/** What guest-init mounts for the container outside its root before it starts: a share by tag. */
export interface GuestShare {
  /** One path component: bind sources name it. */
  name: string;
  fstype: string;
  source: string;
  options: string;
}

/** The container as the spec describes it, before storage decides how its files reach the VM. */
export interface ContainerSpec {
  id: string;
  readonlyRoot: boolean;
  hostname?: string;
  mounts: GuestMount[];
  /** The spec's limits, as files of the container's cgroup in the guest (`memory.max`: ...). */
  cgroup: Record<string, string>;
  /** Paths hidden from the container (spec maskedPaths), and made read-only (readonlyPaths). */
  maskedPaths: string[];
  readonlyPaths: string[];
}

/** The container as ADD_CONTAINER carries it to the guest. */
export interface ContainerModel extends Omit<ContainerSpec, 'readonlyRoot'> {
  /** How the guest finds the rootfs: a share tag or a device, with its fstype and mount data. */
  rootfs: { source: string; fstype: string; options: string; readonly: boolean };
  shares: GuestShare[];
}

/** How the container's files reach the VM (docs/design.md, Storage). */
export type StorageDriverName = '9p' | 'virtiofs' | 'block';
export const STORAGE_DRIVERS: readonly StorageDriverName[] = ['9p', 'virtiofs', 'block'];

/** The VM's storage devices, in no hypervisor's terms: src/storage decides, src/hypervisor renders. */
export interface VmShare {
  driver: '9p' | 'virtiofs';
  /** The host directory exported. */
  source: string;
  tag: string;
}

export interface VmDisk {
  kind: 'file' | 'block';
  source: string;
  format: 'raw' | 'qcow2';
  /** The guest's name for it: vda, ... */
  target: string;
}

export interface VmStorage {
  shares: VmShare[];
  disks: VmDisk[];
}

/**
 * The libvirt driver a container's domain is for: QEMU with KVM or with TCG (a VM each), Xen's
 * libxl (a VM), or libvirt's LXC driver (no VM: namespaces and cgroups on the host's kernel).
 */
export type DriverName = 'kvm' | 'qemu' | 'xen' | 'lxc';
export const DRIVERS: readonly DriverName[] = ['kvm', 'qemu', 'xen', 'lxc'];

export type NumaMode = 'strict' | 'preferred' | 'interleave';

/** NFV/OpenStack placement and QoS, in no hypervisor's terms (docs/design.md, Tuning). */
export interface VmTuning {
  /** vCPU number -> host cpuset ("2", "2-3,6"). */
  vcpuPins: { vcpu: number; cpuset: string }[];
  /** The host cpus QEMU's own threads (I/O, emulation) may use. */
  emulatorPin?: string;
  /** Back the guest's memory with huge pages; sizeKiB undefined: the host's default size. */
  hugepages?: { sizeKiB?: number };
  numa?: { nodeset: string; mode: NumaMode };
  /** Sockets of vhost-user backends (OVS-DPDK, VPP); QEMU connects as the client. */
  vhostUser: string[];
  /** PCI addresses of SR-IOV virtual functions given to the guest as network interfaces. */
  sriov: string[];
  /** The cgroup partition (libvirt's `<resource><partition>`) the domain is placed under. */
  partition?: string;
  /** libvirt's iotune names (total_bytes_sec, read_iops_sec, ...) -> limit, for every disk. */
  iotune: Record<string, number>;
  /** Network QoS for every interface, libvirt's units (average/peak: KiB/s, burst: KiB). */
  bandwidth: { inbound?: Record<string, number>; outbound?: Record<string, number> };
}

export interface VmResources {
  memoryMiB: number;
  vcpus: number;
}

export const HOOK_KINDS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

/** A program run at a lifecycle step with the container's state JSON on stdin (the spec's hooks). */
export interface Hook {
  path: string;
  /** argv, argv[0] included. */
  args: string[];
  env: string[];
  timeoutSeconds?: number;
}

export type Hooks = Partial<Record<HookKind, Hook[]>>;
/** A route of a guest interface: its output device is that interface. */
export interface GuestRoute {
  /** CIDR, `0.0.0.0/0` or `::/0` for a default route. */
  destination: string;
  gateway?: string;
}

/** An interface as the container saw it in its netns; the VM's gets the same. */
export interface GuestInterface {
  name: string;
  mac: string;
  /** The MAC the VM's NIC booted with, when not `mac` (a warm pool VM's): the NIC takes `mac`. */
  bootMac?: string;
  mtu: number;
  /** CIDR: `10.88.0.5/16`, `fd00::5/64`. */
  addresses: string[];
  routes: GuestRoute[];
}

export interface SandboxModel {
  id: string;
  bundle: string;
  /** Absolute host path of the container's root filesystem: a directory, or a disk image for `block`. */
  rootfsPath: string;
  storage: StorageDriverName;
  /** The caller's network namespace (config.json), whose interfaces the VM gets; none: loopback only. */
  networkNamespace?: string;
  resources: VmResources;
  tuning: VmTuning;
  annotations: Record<string, string>;
  hooks: Hooks;
  container: ContainerSpec;
  process: ProcessModel;
}

export const INIT_PROCESS_ID = 'init';
