import * as fs from 'node:fs';
import { validateContainerId } from '../core/container-id';
import { RunvError } from '../core/errors';
import { stateFileOf } from '../runtime/sandbox-paths';
import { writeFileAtomic } from './atomic-file';
import { ContainerRecord, ContainerStatus } from './container-state';
import { isSameProcessAlive } from './process-identity';

/**
 * The containers' lifecycle records under --root, one state.json per id. Only the shim writes a
 * live container's record; each write replaces the file whole (rename), so a reader never sees
 * half of one.
 */
export class StateStore {
  constructor(private readonly config: { root: string }) {}

  /** The record of an id, with its status as it is now: a live status whose shim died is stopped. */
  read(id: string): ContainerRecord {
    validateContainerId(id);
    const record = this.readFile(stateFileOf(this.config.root, id));
    if (!record) throw notFound(id);
    return withObservedStatus(record);
  }

  exists(id: string): boolean {
    validateContainerId(id);
    return fs.existsSync(stateFileOf(this.config.root, id));
  }

  write(record: ContainerRecord): void {
    writeFileAtomic(stateFileOf(this.config.root, record.id), JSON.stringify(record) + '\n');
  }

  /** Every container under --root, in id order; directories without a record (being created) are left out. */
  list(): ContainerRecord[] {
    let ids: string[];
    try {
      ids = fs.readdirSync(this.config.root).sort();
    } catch {
      return [];
    }
    return ids.flatMap((id) => {
      const record = this.readFile(stateFileOf(this.config.root, id));
      return record ? [withObservedStatus(record)] : [];
    });
  }

  private readFile(file: string): ContainerRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as ContainerRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RunvError('internal', `cannot read ${file}: ${(error as Error).message}`);
    }
  }
}

export function notFound(id: string): RunvError {
  return new RunvError('not-found', `container ${JSON.stringify(id)} does not exist`);
}

const LIVE: readonly ContainerStatus[] = ['creating', 'created', 'running', 'paused'];

function withObservedStatus(record: ContainerRecord): ContainerRecord {
  if (!LIVE.includes(record.status) || isSameProcessAlive(record.pid, record.pidStartTicks)) return record;
  return { ...record, status: 'stopped' };
}
