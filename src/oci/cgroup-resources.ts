import { RunvError } from '../core/errors';

/**
 * linux.resources (config.json, or `runv update --resources`) as the files of the container's
 * cgroup v2 inside its VM, with runc's conversions. Pure: the shim sends them to guest-init.
 */
export type LinuxResources = Record<string, unknown>;

const DEFAULT_CPU_PERIOD = 100_000;
const MIB = 1024 * 1024;

/** The cgroup files for the memory, cpu and pids limits that are set; other keys are left to refuseUnsupported. */
export function cgroupFiles(resources: LinuxResources, vmMemoryBytes: number): Record<string, string> {
  const files: Record<string, string> = {};
  const memory = section(resources, 'memory');
  const limit = integer(memory, 'memory', 'limit');
  if (limit !== undefined && limit !== 0) {
    if (limit > vmMemoryBytes) {
      throw new RunvError('invalid-argument', `linux.resources.memory.limit: ${Math.ceil(limit / MIB)} MiB is more than the ${vmMemoryBytes / MIB} MiB the VM booted with, which is fixed`);
    }
    files['memory.max'] = max(limit);
  }
  const reservation = integer(memory, 'memory', 'reservation');
  if (reservation !== undefined && reservation !== 0) files['memory.low'] = max(reservation);
  const cpu = section(resources, 'cpu');
  const shares = integer(cpu, 'cpu', 'shares');
  if (shares) files['cpu.weight'] = String(cpuWeight(shares));
  const quota = integer(cpu, 'cpu', 'quota');
  const period = integer(cpu, 'cpu', 'period');
  if (quota || period) files['cpu.max'] = `${quota && quota > 0 ? quota : 'max'} ${period || DEFAULT_CPU_PERIOD}`;
  const pids = integer(section(resources, 'pids'), 'pids', 'limit');
  if (pids !== undefined && pids !== 0) files['pids.max'] = max(pids);
  return files;
}

/** Keys the VM cannot honour, refused by name (the guest has no swap: a swap limit is accepted and moot). */
export function refuseUnsupported(resources: LinuxResources): void {
  const known: Record<string, readonly string[]> = { memory: ['limit', 'reservation', 'swap'], cpu: ['shares', 'quota', 'period'], pids: ['limit'] };
  const refused: string[] = [];
  for (const [key, value] of Object.entries(resources)) {
    if (!isSet(value)) continue;
    if (!(key in known)) refused.push(`linux.resources.${key}`);
    else for (const [sub, subValue] of Object.entries(value as object)) if (isSet(subValue) && !known[key].includes(sub)) refused.push(`linux.resources.${key}.${sub}`);
  }
  if (refused.length) {
    throw new RunvError('invalid-argument', `cannot update ${refused.join(', ')}: the VM's CPUs, devices and I/O are fixed at boot (runv changes memory, cpu shares/quota and pids)`);
  }
}

/** runc's mapping of cgroup v1 shares (2..262144) onto v2 weights (1..10000). */
export function cpuWeight(shares: number): number {
  return 1 + Math.floor(((Math.min(Math.max(shares, 2), 262_144) - 2) * 9999) / 262_142);
}

function max(value: number): string {
  return value < 0 ? 'max' : String(value);
}

function isSet(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.values(value as object).some(isSet);
  return true;
}

function section(resources: LinuxResources, key: string): Record<string, unknown> {
  const value = resources[key];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new RunvError('invalid-argument', `linux.resources.${key}: must be an object`);
  return value as Record<string, unknown>;
}

function integer(values: Record<string, unknown>, key: string, field: string): number | undefined {
  const value = values[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new RunvError('invalid-argument', `linux.resources.${key}.${field}: must be an integer`);
  return value;
}
