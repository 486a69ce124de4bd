import * as fs from 'node:fs';
import { RunvError } from '../core/errors';
import { DRIVERS, STORAGE_DRIVERS } from '../core/model';
import type { RuntimeConfig } from './runtime-config';

/** Read when --config (or RUNV_CONFIG) names no other file; its absence means the defaults. */
export const DEFAULT_CONFIG_FILE = '/etc/runv/config.json';

/**
 * The operator's settings for every container of the host: `{"driver": "qemu", "libvirtUri":
 * "qemu:///system", "templateDir": "/etc/runv/templates", "storage": {"driver": "9p"},
 * "annotations": {"io.runv.partition": "/machine/runv"}, "pool": {"size": 2}}`; flags override them.
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
  let raw: ConfigFile | null;
  try {
    raw = JSON.parse(text) as ConfigFile | null;
  } catch (error) {
    throw bad(`not valid JSON: ${(error as Error).message}`);
  }
  const config: Partial<RuntimeConfig> = {};
  const storage = raw?.storage?.driver;
  if (storage !== undefined) config.storageDriver = oneOf(storage, STORAGE_DRIVERS, 'storage.driver', bad);
  if (raw?.driver !== undefined) config.driver = oneOf(raw.driver, DRIVERS, 'driver', bad);
  if (raw?.libvirtUri !== undefined) config.libvirtUri = aString(raw.libvirtUri, 'libvirtUri', bad);
  if (raw?.templateDir !== undefined) config.templateDir = aString(raw.templateDir, 'templateDir', bad);
  if (raw?.annotations !== undefined) config.annotations = stringMap(raw.annotations, bad);
  if (raw?.pool?.size !== undefined) config.poolSize = poolSize(raw.pool.size, bad);
  if (raw?.allowedAnnotations !== undefined) config.allowedAnnotations = stringList(raw.allowedAnnotations, 'allowedAnnotations', bad);
  return config;
}

/** The file's keys, unchecked. */
interface ConfigFile {
  storage?: { driver?: unknown };
  driver?: unknown;
  libvirtUri?: unknown;
  templateDir?: unknown;
  annotations?: unknown;
  allowedAnnotations?: unknown;
  pool?: { size?: unknown };
}

/** A warm pool of more than a few VMs would only hold memory: each waits with its whole RAM. */
export const MAX_POOL_SIZE = 16;

function poolSize(value: unknown, bad: (problem: string) => RunvError): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_POOL_SIZE) throw bad(`pool.size must be an integer from 0 to ${MAX_POOL_SIZE}`);
  return value as number;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], key: string, bad: (problem: string) => RunvError): T {
  if (!(allowed as readonly unknown[]).includes(value)) throw bad(`${key} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function aString(value: unknown, key: string, bad: (problem: string) => RunvError): string {
  if (typeof value !== 'string' || value === '') throw bad(`${key} must be a non-empty string`);
  return value;
}

function stringMap(value: unknown, bad: (problem: string) => RunvError): Record<string, string> {
  const entries = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value) : undefined;
  if (!entries || entries.some(([, v]) => typeof v !== 'string')) throw bad('annotations must map names to strings');
  return Object.fromEntries(entries) as Record<string, string>;
}

function stringList(value: unknown, key: string, bad: (problem: string) => RunvError): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw bad(`${key} must be a list of names`);
  return value as string[];
}
