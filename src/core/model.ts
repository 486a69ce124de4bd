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

/** A filesystem the guest mounts inside the container (proc, tmpfs, ...). */
export interface GuestMount {
  type: string;
  source: string;
  destination: string;
  options: string[];
}

export interface ContainerModel {
  id: string;
  /** How the guest finds the rootfs: a 9p tag with its fstype and mount data. */
  rootfs: { source: string; fstype: string; options: string; readonly: boolean };
  hostname?: string;
  mounts: GuestMount[];
}

export interface VmResources {
  memoryMiB: number;
  vcpus: number;
}

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
  mtu: number;
  /** CIDR: `10.88.0.5/16`, `fd00::5/64`. */
  addresses: string[];
  routes: GuestRoute[];
}

export interface SandboxModel {
  id: string;
  bundle: string;
  /** Absolute host path of the container's root filesystem. */
  rootfsPath: string;
  /** The caller's network namespace (config.json), whose interfaces the VM gets; none: loopback only. */
  networkNamespace?: string;
  resources: VmResources;
  annotations: Record<string, string>;
  container: ContainerModel;
  process: ProcessModel;
}

export const ROOTFS_TAG = 'rootfs';
export const INIT_PROCESS_ID = 'init';
