import * as fs from 'node:fs';
import { RunvError } from '../core/errors';

/** A linux.resources object, as `runv update --resources` reads it. */
export type Resources = Record<string, unknown>;

export function readResources(file: string): Resources {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new RunvError('invalid-argument', `--resources ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Resources;
  } catch (error) {
    throw new RunvError('invalid-argument', `--resources ${file}: ${(error as Error).message}`);
  }
}

/**
 * A VM's memory and vCPUs are fixed when it boots (no balloon, no CPU hotplug in runv's
 * template), and the host cgroup knobs have nothing to act on: every resource set is refused by
 * name, and an empty update is a no-op.
 */
export function refuseResourceChanges(resources: Resources): void {
  const asked = Object.entries(resources).filter(([, value]) => value !== null && value !== undefined).map(([key]) => `linux.resources.${key}`);
  if (asked.length) throw new RunvError('invalid-argument', `cannot update ${asked.join(', ')}: a running VM's resources are fixed at boot`);
}
