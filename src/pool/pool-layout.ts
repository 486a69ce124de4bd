import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { RunvError } from '../core/errors';
import { DomainInterface, DomainModel } from '../hypervisor/domain-model';
import { RuntimeConfig } from '../runtime/runtime-config';

/**
 * A warm pool: VMs booted ahead of any container, each waiting in guest-init for one container
 * to arrive over its agent channel and its one 9p share. A VM serves one container, then goes:
 * no two containers ever share a VM, one after the other included.
 */

/** A pool VM's domain is `runv.pool-<hex>`: `runv.`, never `runv-`, so no container id names one. */
export const POOL_DOMAIN_PREFIX = 'runv.';
/** The 9p tag of a pool VM's share, under which its container's rootfs and bind sources arrive. */
export const POOL_TAG = 'pool';
/** Inside the share: the container's rootfs, and its bind sources (storage-plan's entries). */
export const POOL_ROOTFS_ENTRY = 'rootfs';
export const POOL_MOUNTS_ENTRY = 'mounts';
/**
 * NICs a pool VM boots with: a container's netns interfaces take them (the tap moves into its
 * netns, the guest NIC its MAC). Microvm has no hot-plug; one NIC serves the usual eth0.
 */
export const POOL_NICS = 1;

/** Where one pool VM's files live on the host. */
export interface PoolVmPaths {
  name: string;
  domain: string;
  dir: string;
  /**
   * What QEMU exports: a read-only bind of `store` with shared propagation, so that binds made
   * under it after boot reach QEMU's mount namespace, and the guest cannot change what is there.
   */
  share: string;
  /** The directory behind `share`, where the host makes the mount points. */
  store: string;
  /** A private mount where a bind is made read-only before it moves under `share`. */
  stage: string;
  /** Its taps' names start with it (IFNAMSIZ: 15 bytes with the index). */
  tapPrefix: string;
  consoleLog: string;
  agentSocket: string;
  /** What the VM was booted as (PoolVmInfo). */
  info: string;
  /** Exists while the VM waits; whoever renames it to a claim (claimFile) owns the VM. */
  ready: string;
}

/** What a pool VM records about itself when it boots. */
export interface PoolVmInfo {
  /** The domain's shape (shapeOf): a container whose domain would have the same one may take it. */
  shape: string;
  /** The process booting it: a VM without `ready` whose filler died will never be ready. */
  filler: ProcessRef;
  /** Its NICs' taps, in the host's netns until a container takes them, and MACs. */
  nics: DomainInterface[];
  created: string;
}

/** Who took a pool VM: the container and the process that holds its agent channel. */
export interface PoolClaim {
  /** Written once the claim is made: absent for a moment, or for good when a drain took the VM. */
  id?: string;
  holder: ProcessRef;
}

/** A process, told apart from a later one with the same pid by its start time. */
export interface ProcessRef {
  pid: number;
  startTicks: number;
}

/**
 * The claim's file: `ready` renamed to a name that holds its holder, so that a claim is never
 * without one, even if its holder dies at once.
 */
export function claimFile(paths: PoolVmPaths, holder: ProcessRef): string {
  return path.join(paths.dir, `${CLAIM_PREFIX}${holderName(holder)}`);
}

/** The holder a claim file's name gives, or undefined for any other name. */
export function claimHolder(file: string): ProcessRef | undefined {
  return file.startsWith(CLAIM_PREFIX) ? parseHolder(file.slice(CLAIM_PREFIX.length)) : undefined;
}

const CLAIM_PREFIX = 'claim-';

/** A process as a name: `<pid>-<start ticks>`. */
export function holderName(holder: ProcessRef): string {
  return `${holder.pid}-${holder.startTicks}`;
}

export function parseHolder(name: string): ProcessRef | undefined {
  const match = /^(\d+)-(\d+)$/.exec(name);
  return match ? { pid: Number(match[1]), startTicks: Number(match[2]) } : undefined;
}

export function poolDir(root: string): string {
  return path.join(root, '.pool');
}

export function newPoolVmName(): string {
  return `pool-${randomBytes(6).toString('hex')}`;
}

/** A pool NIC's MAC until a container's replaces it: QEMU's prefix, random otherwise. */
export function newPoolMac(): string {
  return ['52', '54', '00', ...randomBytes(3).toString('hex').match(/../g)!].join(':');
}

/** A pool VM's name: `pool-` and 12 hex digits; anything else read from disk is not one. */
export const POOL_VM_NAME = /^pool-[0-9a-f]{12}$/;

export function poolVmPaths(config: Pick<RuntimeConfig, 'root' | 'socketDir'>, name: string): PoolVmPaths {
  if (!POOL_VM_NAME.test(name)) throw new RunvError('invalid-argument', `${JSON.stringify(name)} is not a pool VM's name`);
  const dir = path.join(poolDir(config.root), name);
  return {
    name,
    domain: `${POOL_DOMAIN_PREFIX}${name}`,
    dir,
    share: path.join(dir, 'share'),
    store: path.join(dir, 'store'),
    stage: path.join(dir, 'stage'),
    tapPrefix: `rp${name.slice('pool-'.length, 'pool-'.length + 10)}t`,
    consoleLog: path.join(dir, 'console.log'),
    agentSocket: path.join(config.socketDir, `${name}.agent`),
    info: path.join(dir, 'info.json'),
    ready: path.join(dir, 'ready'),
  };
}

/**
 * Everything in a domain that its container does not choose: the driver, size, guest image,
 * kernel command line, tuning, TSC and the template. A booted VM fits a container only if the
 * container's own domain would have had the same.
 */
export function shapeOf(model: DomainModel, template: string): string {
  const { type, memoryMiB, vcpus, kernel, initrd, cmdline, tuning, tscKhz } = model;
  const shape = JSON.stringify({ type, memoryMiB, vcpus, kernel, initrd, cmdline, tuning, tscKhz: tscKhz ?? null, template });
  return createHash('sha256').update(shape).digest('hex');
}
