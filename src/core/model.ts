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
  /** The spec's limits, as files of the container's cgroup in the guest (`memory.max`: ...). */
  cgroup: Record<string, string>;
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

export interface SandboxModel {
  id: string;
  bundle: string;
  /** Absolute host path of the container's root filesystem. */
  rootfsPath: string;
  resources: VmResources;
  annotations: Record<string, string>;
  hooks: Hooks;
  container: ContainerModel;
  process: ProcessModel;
}

export const ROOTFS_TAG = 'rootfs';
export const INIT_PROCESS_ID = 'init';
