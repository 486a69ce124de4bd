import * as fs from 'node:fs';
import { isSameProcessAlive, processStartTicks } from '../lifecycle/process-identity';
import { holderName, parseHolder, ProcessRef } from './pool-layout';

/**
 * The filler's lock: a symlink whose target names its holder (`<pid>-<start ticks>`), made in
 * one symlink(2), so it is never seen without its holder. A dead holder's lock is taken over.
 */
export class FillerLock {
  constructor(private readonly file: string) {}

  /** Takes the lock: its release, or undefined while a live process holds it. */
  tryTake(): (() => void) | undefined {
    const me = holderName(thisProcess());
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.symlinkSync(me, this.file);
        return () => this.release(me);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = this.holder();
      if (holder && isAlive(holder)) return undefined;
      if (holder) this.takeFromDead();
    }
    return undefined;
  }

  /** The process that holds the lock, dead or alive, if any. */
  holder(): ProcessRef | undefined {
    return readHolder(this.file);
  }

  /** Moves a dead holder's lock aside (atomic); one a live process made meanwhile goes back. */
  private takeFromDead(): void {
    const aside = `${this.file}.${process.pid}`;
    try {
      fs.renameSync(this.file, aside);
    } catch {
      return;
    }
    const taken = readHolder(aside);
    if (taken && isAlive(taken)) {
      try {
        fs.linkSync(aside, this.file);
      } catch {
        // Another lock was made meanwhile: it holds now.
      }
    }
    fs.rmSync(aside, { force: true });
  }

  private release(me: string): void {
    if (readLink(this.file) === me) fs.rmSync(this.file, { force: true });
  }
}

export function thisProcess(): ProcessRef {
  return { pid: process.pid, startTicks: processStartTicks(process.pid) ?? 0 };
}

export function isAlive(process: ProcessRef): boolean {
  return isSameProcessAlive(process.pid, process.startTicks);
}

function readHolder(file: string): ProcessRef | undefined {
  return parseHolder(readLink(file) ?? '');
}

function readLink(file: string): string | undefined {
  try {
    return fs.readlinkSync(file);
  } catch {
    return undefined;
  }
}
