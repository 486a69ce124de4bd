import * as path from 'node:path';
import { ContainerModel, GuestMount, INIT_PROCESS_ID, ProcessModel, ROOTFS_TAG, Rlimit, SandboxModel, VmResources } from '../core/model';
import { invalidSpec } from '../core/errors';
import { OciMount, OciProcess, OciSpec } from './spec';
import { requireProcess } from './validate';

export const DEFAULT_MEMORY_MIB = 256;
/** Below this the guest kernel with its 9p modules does not boot (measured: 94 MiB). */
export const MIN_MEMORY_MIB = 128;
const MIB = 1024 * 1024;
const U64_MAX = (1n << 64n) - 1n;

/** Filesystem types guest-init mounts itself inside the VM. Bind mounts of host paths are not shared yet. */
const GUEST_FILESYSTEMS = new Set(['proc', 'sysfs', 'tmpfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2']);

export interface TranslateOptions {
  id: string;
  bundle: string;
  /** Forces terminal mode on or off, as `run -t` does. */
  terminal?: boolean;
}

/** Pure translation of a validated OCI spec into the sandbox model. */
export function specToSandbox(spec: OciSpec, options: TranslateOptions): SandboxModel {
  const process = requireProcess(spec);
  const rootfsPath = path.resolve(options.bundle, spec.root.path);
  return {
    id: options.id,
    bundle: options.bundle,
    rootfsPath,
    networkNamespace: spec.linux?.namespaces?.find((n) => n.type === 'network')?.path,
    resources: resourcesOf(spec),
    annotations: spec.annotations ?? {},
    container: containerOf(spec, options.id),
    process: processModel(process, { containerId: options.id, processId: INIT_PROCESS_ID, init: true, terminal: options.terminal }),
  };
}

export function resourcesOf(spec: OciSpec): VmResources {
  const resources = spec.linux?.resources;
  const limit = resources?.memory?.limit;
  const memoryMiB = limit && limit > 0 ? Math.max(MIN_MEMORY_MIB, Math.ceil(limit / MIB)) : DEFAULT_MEMORY_MIB;
  return { memoryMiB, vcpus: vcpusOf(resources?.cpu) };
}

function vcpusOf(cpu: { quota?: number; period?: number; cpus?: string } | undefined): number {
  if (cpu?.quota && cpu.quota > 0 && cpu.period && cpu.period > 0) return Math.max(1, Math.ceil(cpu.quota / cpu.period));
  if (cpu?.cpus) return Math.max(1, cpusetSize(cpu.cpus));
  return 1;
}

/** Counts the CPUs of a cpuset list such as "0-3,6". */
export function cpusetSize(cpus: string): number {
  let count = 0;
  for (const part of cpus.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw invalidSpec('linux.resources.cpu.cpus', `${JSON.stringify(cpus)} is not a cpu list`);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) throw invalidSpec('linux.resources.cpu.cpus', `${JSON.stringify(cpus)} has a reversed range`);
    count += last - first + 1;
  }
  return count;
}

function containerOf(spec: OciSpec, id: string): ContainerModel {
  return {
    id,
    rootfs: { source: ROOTFS_TAG, fstype: '9p', options: 'trans=virtio,version=9p2000.L,msize=262144', readonly: spec.root.readonly ?? false },
    hostname: spec.hostname,
    mounts: (spec.mounts ?? []).filter(isGuestFilesystem).map(toGuestMount),
  };
}

function isGuestFilesystem(mount: OciMount): boolean {
  return mount.type !== undefined && GUEST_FILESYSTEMS.has(mount.type);
}

function toGuestMount(mount: OciMount): GuestMount {
  return { type: mount.type!, source: mount.source ?? mount.type!, destination: mount.destination, options: mount.options ?? [] };
}

export interface ProcessIdentity {
  containerId: string;
  processId: string;
  /** The container's first process (true), or one exec'd into it. */
  init: boolean;
  /** Forces terminal mode on or off. */
  terminal?: boolean;
}

export function processModel(process: OciProcess, options: ProcessIdentity): ProcessModel {
  return {
    containerId: options.containerId,
    processId: options.processId,
    init: options.init,
    args: process.args,
    env: process.env ?? [],
    cwd: process.cwd,
    uid: process.user.uid,
    gid: process.user.gid,
    additionalGids: process.user.additionalGids ?? [],
    umask: process.user.umask,
    rlimits: (process.rlimits ?? []).map(toRlimit),
    noNewPrivileges: process.noNewPrivileges ?? false,
    terminal: options.terminal ?? process.terminal ?? false,
    rows: process.consoleSize?.height,
    cols: process.consoleSize?.width,
  };
}

function toRlimit(rlimit: { type: string; soft: number; hard: number }): Rlimit {
  return { type: rlimit.type, soft: toU64(rlimit.soft), hard: toU64(rlimit.hard) };
}

function toU64(value: number): bigint {
  return value >= 2 ** 64 - 1 ? U64_MAX : BigInt(value);
}
