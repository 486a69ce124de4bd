import { ATTRIBUTE_HEADER_SIZE, MAX_ATTRIBUTE_VALUE, MAX_PAYLOAD } from '../agent/protocol';
import { invalidSpec, RunvError } from '../core/errors';
import { HOOK_KINDS } from '../core/model';
import { OciMount, OciProcess, OciSpec } from './spec';

/**
 * Parses config.json text into an OciSpec, checking every field runv reads and naming the
 * first one that is wrong. Pure: the caller reads the file.
 */
export function parseSpec(text: string): OciSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw invalidSpec('(file)', `not valid JSON: ${(error as Error).message}`);
  }
  const spec = object(raw, '(file)');
  string(spec.ociVersion, 'ociVersion');
  const root = object(spec.root, 'root');
  nonEmptyString(root.path, 'root.path');
  optional(root.readonly, 'root.readonly', boolean);
  if (spec.process !== undefined) validateProcess(spec.process);
  optional(spec.hostname, 'hostname', string);
  optional(spec.mounts, 'mounts', (v, f) => array(v, f).forEach((m, i) => validateMount(m, `${f}[${i}]`)));
  optional(spec.annotations, 'annotations', (v, f) => Object.entries(object(v, f)).forEach(([k, s]) => string(s, `${f}.${k}`)));
  optional(spec.linux, 'linux', validateLinux);
  optional(spec.hooks, 'hooks', validateHooks);
  return spec as unknown as OciSpec;
}

/** Parses an OCI process object on its own (`runv exec --process FILE`); errors name `source`. */
export function parseProcess(text: string, source: string): OciProcess {
  try {
    const raw: unknown = JSON.parse(text);
    validateProcess(raw);
    return raw as OciProcess;
  } catch (error) {
    if (error instanceof SyntaxError) throw new RunvError('invalid-spec', `${source}: not valid JSON: ${error.message}`);
    // The checks are config.json's, where the object sits at `process`.
    if (error instanceof RunvError) throw new RunvError('invalid-spec', error.message.replace(/^config\.json: /, `${source}: `));
    throw error;
  }
}

/** The process is optional in the spec, but `run` needs one. */
export function requireProcess(spec: OciSpec): OciProcess {
  if (!spec.process) throw invalidSpec('process', 'is required to run a container');
  return spec.process;
}

function validateProcess(value: unknown): void {
  const p = object(value, 'process');
  optional(p.terminal, 'process.terminal', boolean);
  optional(p.consoleSize, 'process.consoleSize', (v, f) => {
    const size = object(v, f);
    uint(size.height, `${f}.height`);
    uint(size.width, `${f}.width`);
  });
  const user = object(p.user, 'process.user');
  uint(user.uid, 'process.user.uid');
  uint(user.gid, 'process.user.gid');
  optional(user.umask, 'process.user.umask', uint);
  optional(user.additionalGids, 'process.user.additionalGids', (v, f) => array(v, f).forEach((g, i) => uint(g, `${f}[${i}]`)));
  const args = array(p.args, 'process.args');
  if (args.length === 0) throw invalidSpec('process.args', 'must name a program to run');
  args.forEach((a, i) => string(a, `process.args[${i}]`));
  optional(p.env, 'process.env', (v, f) =>
    array(v, f).forEach((e, i) => {
      if (!string(e, `${f}[${i}]`).includes('=')) throw invalidSpec(`${f}[${i}]`, 'must be KEY=value');
    }),
  );
  fitsStartProcess(args as string[], (p.env ?? []) as string[]);
  const cwd = nonEmptyString(p.cwd, 'process.cwd');
  if (!cwd.startsWith('/')) throw invalidSpec('process.cwd', 'must be an absolute path');
  optional(p.rlimits, 'process.rlimits', (v, f) =>
    array(v, f).forEach((r, i) => {
      const rl = object(r, `${f}[${i}]`);
      const type = nonEmptyString(rl.type, `${f}[${i}].type`);
      if (!/^RLIMIT_[A-Z]+$/.test(type)) throw invalidSpec(`${f}[${i}].type`, `unknown rlimit ${JSON.stringify(type)}`);
      uint64(rl.soft, `${f}[${i}].soft`);
      uint64(rl.hard, `${f}[${i}].hard`);
    }),
  );
  optional(p.noNewPrivileges, 'process.noNewPrivileges', boolean);
}

/** Kernel filesystems guest-init mounts itself inside the VM; host paths come in as binds. */
export const GUEST_FILESYSTEMS: ReadonlySet<string> = new Set(['proc', 'sysfs', 'tmpfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2']);

/** runc's rule: `type: bind`, or any type (`none`, absent) with a bind or rbind option. */
export function isBindMount(mount: OciMount): boolean {
  return mount.type === 'bind' || (mount.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

function validateMount(value: unknown, field: string): OciMount {
  const m = object(value, field);
  insideRoot(nonEmptyString(m.destination, `${field}.destination`), `${field}.destination`);
  optional(m.type, `${field}.type`, string);
  optional(m.source, `${field}.source`, string);
  optional(m.options, `${field}.options`, (v, f) => array(v, f).forEach((o, i) => string(o, `${f}[${i}]`)));
  const mount = m as unknown as OciMount;
  if (isBindMount(mount)) {
    if (!mount.source) throw invalidSpec(`${field}.source`, 'a bind mount needs the host path to bind');
  } else if (!GUEST_FILESYSTEMS.has(mount.type ?? '')) {
    throw invalidSpec(`${field}.type`, `${JSON.stringify(mount.type ?? '')} is not supported (runv mounts bind, ${[...GUEST_FILESYSTEMS].join(', ')})`);
  }
  return mount;
}

/** Absolute, and no `..` climbs above the root: symlinks are the guest's to check, where the rootfs is. */
function insideRoot(destination: string, field: string): void {
  if (!destination.startsWith('/')) throw invalidSpec(field, 'must be an absolute path');
  let depth = 0;
  for (const part of destination.split('/').filter((p) => p && p !== '.')) {
    depth += part === '..' ? -1 : 1;
    if (depth < 0) throw invalidSpec(field, `${destination} leaves the container root`);
  }
}

function validateHooks(value: unknown, field: string): void {
  const hooks = object(value, field);
  for (const kind of HOOK_KINDS) {
    optional(hooks[kind], `${field}.${kind}`, (v, f) => array(v, f).forEach((h, i) => validateHook(h, `${f}[${i}]`)));
  }
}

function validateHook(value: unknown, field: string): void {
  const hook = object(value, field);
  if (!nonEmptyString(hook.path, `${field}.path`).startsWith('/')) throw invalidSpec(`${field}.path`, 'must be an absolute path');
  optional(hook.args, `${field}.args`, (v, f) => array(v, f).forEach((a, i) => string(a, `${f}[${i}]`)));
  optional(hook.env, `${field}.env`, (v, f) => array(v, f).forEach((e, i) => string(e, `${f}[${i}]`)));
  optional(hook.timeout, `${field}.timeout`, (v, f) => {
    if (uint(v, f) === 0) throw invalidSpec(f, 'must be greater than zero');
  });
}

function validateLinux(value: unknown, field: string): void {
  const linux = object(value, field);
  for (const key of ['maskedPaths', 'readonlyPaths']) {
    optional(linux[key], `${field}.${key}`, (v, f) => array(v, f).forEach((p, i) => insideRoot(nonEmptyString(p, `${f}[${i}]`), `${f}[${i}]`)));
  }
  optional(linux.namespaces, `${field}.namespaces`, (v, f) =>
    array(v, f).forEach((n, i) => {
      const namespace = object(n, `${f}[${i}]`);
      string(namespace.type, `${f}[${i}].type`);
      optional(namespace.path, `${f}[${i}].path`, (p, pf) => {
        // It goes into ip(8) batch lines: a space or a newline there would be another word or command.
        if (/[\s\x00-\x1f]/.test(string(p, pf))) throw invalidSpec(pf, 'must not contain spaces or control characters');
      });
    }),
  );
  optional(linux.resources, `${field}.resources`, (v, f) => {
    const resources = object(v, f);
    optional(resources.memory, `${f}.memory`, (m, mf) => optional(object(m, mf).limit, `${mf}.limit`, integer));
    optional(resources.cpu, `${f}.cpu`, (c, cf) => {
      const cpu = object(c, cf);
      optional(cpu.quota, `${cf}.quota`, integer);
      optional(cpu.period, `${cf}.period`, uint);
      optional(cpu.cpus, `${cf}.cpus`, string);
    });
  });
}

/**
 * START_PROCESS carries args and env in one frame. Checked here so that a spec the guest
 * protocol cannot carry fails before a VM boots. The reserve is for the frame's other attributes
 * (ids of at most 128 bytes, cwd, user, rlimits, terminal): generous for any ordinary spec.
 */
const START_PROCESS_RESERVE = 4096;
const MAX_ARGS_AND_ENV = MAX_PAYLOAD - START_PROCESS_RESERVE;

/** Each arg and env entry is one attribute of START_PROCESS. */
function fitsStartProcess(args: string[], env: string[]): void {
  let total = 0;
  const entries = [...args.map((value, i) => ({ value, field: `process.args[${i}]` })), ...env.map((value, i) => ({ value, field: `process.env[${i}]` }))];
  for (const { value, field } of entries) {
    const length = Buffer.byteLength(value, 'utf8');
    if (length > MAX_ATTRIBUTE_VALUE) throw invalidSpec(field, `is longer than ${MAX_ATTRIBUTE_VALUE} bytes`);
    total += ATTRIBUTE_HEADER_SIZE + length;
  }
  if (total > MAX_ARGS_AND_ENV) throw invalidSpec('process', `args and env together exceed the ${MAX_PAYLOAD / 1024} KiB the guest protocol carries`);
}

type Check = (value: unknown, field: string) => unknown;

function optional(value: unknown, field: string, check: Check): void {
  if (value !== undefined && value !== null) check(value, field);
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidSpec(field, value === undefined ? 'is missing' : 'must be an object');
  return value as Record<string, unknown>;
}

function array(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw invalidSpec(field, value === undefined ? 'is missing' : 'must be an array');
  return value;
}

function string(value: unknown, field: string): string {
  if (typeof value !== 'string') throw invalidSpec(field, value === undefined ? 'is missing' : 'must be a string');
  return value;
}

function nonEmptyString(value: unknown, field: string): string {
  if (string(value, field) === '') throw invalidSpec(field, 'must not be empty');
  return value as string;
}

function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw invalidSpec(field, 'must be true or false');
  return value;
}

function integer(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalidSpec(field, value === undefined ? 'is missing' : 'must be an integer');
  return value;
}

function uint(value: unknown, field: string): number {
  if (integer(value, field) < 0) throw invalidSpec(field, 'must not be negative');
  return value as number;
}

/** JSON cannot carry a u64 exactly; values near 2^64 mean unlimited and are clamped later. */
function uint64(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalidSpec(field, value === undefined ? 'is missing' : 'must be a non-negative integer');
  return value;
}
