import * as path from 'node:path';
import { ContainerSpec, GuestMount, Hooks, HOOK_KINDS, INIT_PROCESS_ID, ProcessModel, Rlimit, SandboxModel, STORAGE_DRIVERS, StorageDriverName, VmResources } from '../core/model';
import { invalidSpec } from '../core/errors';
import { cgroupFiles, LinuxResources } from './cgroup-resources';
import { refuseHostResources, tuningOf } from './tuning';
import { OciHooks, OciMount, OciProcess, OciSpec } from './spec';
import { isBindMount, requireProcess } from './validate';

export const DEFAULT_MEMORY_MIB = 256;
/** Below this the guest kernel with its 9p modules does not boot (measured: 94 MiB). */
export const MIN_MEMORY_MIB = 128;
const MIB = 1024 * 1024;
const U64_MAX = (1n << 64n) - 1n;

/** The annotation that picks a container's storage driver over the runtime config's default. */
export const STORAGE_ANNOTATION = 'io.runv.storage';

export interface TranslateOptions {
  id: string;
  bundle: string;
  /** Forces terminal mode on or off, as `run -t` does. */
  terminal?: boolean;
  /** The runtime config's storage driver, for a spec without the annotation. */
  defaultStorage: StorageDriverName;
  /** The runtime config's annotations, for those the spec does not set (tuning defaults). */
  defaultAnnotations?: Record<string, string>;
  /** Host-resource annotations the operator lets a spec set (src/oci/tuning.ts). */
  allowedAnnotations?: readonly string[];
}

/** Pure translation of a validated OCI spec into the sandbox model. */
export function specToSandbox(spec: OciSpec, options: TranslateOptions): SandboxModel {
  const process = requireProcess(spec);
  const rootfsPath = path.resolve(options.bundle, spec.root.path);
  const resources = resourcesOf(spec);
  const annotations = spec.annotations ?? {};
  refuseHostResources(annotations, options.allowedAnnotations ?? []);
  return {
    id: options.id,
    bundle: options.bundle,
    rootfsPath,
    storage: storageOf(annotations, options.defaultStorage),
    networkNamespace: spec.linux?.namespaces?.find((n) => n.type === 'network')?.path,
    resources,
    tuning: tuningOf({ ...options.defaultAnnotations, ...annotations }),
    annotations,
    hooks: hooksOf(spec.hooks),
    container: containerOf(spec, options, resources),
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

function hooksOf(hooks: OciHooks | undefined): Hooks {
  const model: Hooks = {};
  for (const kind of HOOK_KINDS) {
    const list = hooks?.[kind];
    if (list?.length) model[kind] = list.map((h) => ({ path: h.path, args: h.args?.length ? h.args : [h.path], env: h.env ?? [], timeoutSeconds: h.timeout }));
  }
  return model;
}

function storageOf(annotations: Record<string, string>, fallback: StorageDriverName): StorageDriverName {
  const chosen = annotations[STORAGE_ANNOTATION];
  if (chosen === undefined) return fallback;
  if (!(STORAGE_DRIVERS as readonly string[]).includes(chosen)) throw invalidSpec(`annotations.${STORAGE_ANNOTATION}`, `${JSON.stringify(chosen)} is not one of ${STORAGE_DRIVERS.join(', ')}`);
  return chosen as StorageDriverName;
}

function containerOf(spec: OciSpec, options: TranslateOptions, resources: VmResources): ContainerSpec {
  return {
    id: options.id,
    readonlyRoot: spec.root.readonly ?? false,
    cgroup: cgroupFiles((spec.linux?.resources ?? {}) as LinuxResources, resources.memoryMiB * MIB),
    hostname: spec.hostname,
    mounts: (spec.mounts ?? []).map((mount) => toGuestMount(mount, options.bundle)),
    maskedPaths: spec.linux?.maskedPaths ?? [],
    readonlyPaths: spec.linux?.readonlyPaths ?? [],
  };
}

/** A bind keeps its host source, resolved against the bundle as the runtime-spec says. */
function toGuestMount(mount: OciMount, bundle: string): GuestMount {
  const destination = path.posix.normalize(mount.destination);
  if (isBindMount(mount)) return { type: 'bind', source: path.resolve(bundle, mount.source!), destination, options: mount.options ?? [] };
  return { type: mount.type!, source: mount.source ?? mount.type!, destination, options: mount.options ?? [] };
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
