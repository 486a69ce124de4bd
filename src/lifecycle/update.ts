import * as fs from 'node:fs';
import { RunvError } from '../core/errors';
import { LinuxResources } from '../oci/cgroup-resources';


/** A linux.resources object, as `runv update --resources` reads it. */
export function readResources(file: string): LinuxResources {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new RunvError('invalid-argument', `--resources ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as LinuxResources;
  } catch (error) {
    throw new RunvError('invalid-argument', `--resources ${file}: ${(error as Error).message}`);
  }
}
