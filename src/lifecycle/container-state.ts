import { RunvError } from '../core/errors';
import { Hook } from '../core/model';

/**
 * A container's lifecycle, as the OCI runtime-spec names it. `creating` lasts while the VM
 * boots; `stopped` is final, until delete removes the record.
 */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** What runv keeps on disk per container: the OCI state plus what later commands need. */
export interface ContainerRecord {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /** The shim's pid: what create wrote to --pid-file, alive until the container stopped. */
  pid: number;
  /** The shim's start time in clock ticks since boot, so a reused pid is not taken for it. */
  pidStartTicks: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
  /** The container init's exit status once stopped (128+N for signal N). */
  exitStatus?: number;
  /** The spec's poststop hooks, which delete runs once the container is gone. */
  poststop?: Hook[];
  /** The caller's netns, where the container's taps went: delete looks there after a dead shim. */
  networkNamespace?: string;
  /** The warm pool's VM the container took (src/pool), instead of a `runv-<id>` of its own. */
  pooledVm?: string;
}

const NEXT: Readonly<Record<ContainerStatus, readonly ContainerStatus[]>> = {
  creating: ['created', 'stopped'],
  created: ['running', 'stopped'],
  running: ['paused', 'stopped'],
  paused: ['running', 'stopped'],
  stopped: [],
};

export function canMove(from: ContainerStatus, to: ContainerStatus): boolean {
  return NEXT[from].includes(to);
}

/** Fails with a runc-like message unless the container is in one of the statuses an action needs. */
export function requireStatus(record: Pick<ContainerRecord, 'id' | 'status'>, action: string, allowed: readonly ContainerStatus[]): void {
  if (allowed.includes(record.status)) return;
  throw new RunvError('invalid-state', `cannot ${action} container ${JSON.stringify(record.id)}: it is ${record.status} (needs ${allowed.join(' or ')})`);
}
