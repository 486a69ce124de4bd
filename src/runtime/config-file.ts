import * as fs from 'node:fs';
import { RunvError } from '../core/errors';
import { STORAGE_DRIVERS, StorageDriverName } from '../core/model';
import type { RuntimeConfig } from './runtime-config';

/** Read when --config (or RUNV_CONFIG) names no other file; its absence means the defaults. */
export const DEFAULT_CONFIG_FILE = '/etc/runv/config.json';

/**
 * The operator's settings for every container of the host: `{"storage": {"driver": "9p"}}`.
 * A file that was asked for by name must exist; the default one may be absent.
 */
export function readConfigFile(file: string | undefined): Partial<RuntimeConfig> {
  const name = file ?? DEFAULT_CONFIG_FILE;
  let text: string;
  try {
    text = fs.readFileSync(name, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && file === undefined) return {};
    throw new RunvError('invalid-argument', `runtime config ${name}: ${code === 'ENOENT' ? 'does not exist' : code}`);
  }
  return parseConfigFile(text, name);
}

export function parseConfigFile(text: string, name: string): Partial<RuntimeConfig> {
  const bad = (problem: string): RunvError => new RunvError('invalid-argument', `runtime config ${name}: ${problem}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw bad(`not valid JSON: ${(error as Error).message}`);
  }
  const storage = (raw as { storage?: { driver?: unknown } } | null)?.storage;
  const driver = storage?.driver;
  if (driver === undefined) return {};
  if (!(STORAGE_DRIVERS as readonly unknown[]).includes(driver)) throw bad(`storage.driver must be one of ${STORAGE_DRIVERS.join(', ')}`);
  return { storageDriver: driver as StorageDriverName };
}
