/**
 * `runv run` in the foreground without oclif: loading and running the CLI framework costs ~0.1 s
 * of every start (measured: 225 ms from spawn to the run itself, against 130 ms without it).
 * Only the plain form is taken here, global flags, --bundle and --tty; anything else (help,
 * --detach, a console socket, a flag value oclif would reject) goes to oclif, which knows it all.
 */
import { Container } from 'inversify';
import { Hypervisor } from '../core/ports';
import { AccelChoice } from '../hypervisor/accel';
import { DEFAULT_IMAGES_DIR } from '../image/image-layout';
import { RunService } from '../runtime/run-service';
import { DRIVERS, DriverName } from '../core/model';
import { DEFAULT_ROOT } from '../runtime/runtime-config';
import { GlobalOptions, reportError, servicesFor } from './global-options';

export interface FastRunArgs {
  readonly id: string;
  readonly bundle: string;
  /** Undefined: config.json decides. */
  readonly tty?: boolean;
  readonly options: GlobalOptions;
}

/**
 * The value flags this path knows, by every spelling. Named one by one rather than taken from
 * VALUE_FLAGS: a global flag added later goes to oclif until this path learns what it means.
 */
export const FAST_VALUE_FLAGS: Readonly<Record<string, string>> = {
  '--bundle': '--bundle',
  '-b': '--bundle',
  ...Object.fromEntries(['--root', '--images-dir', '--template-dir', '--libvirt-uri', '--config', '--driver', '--accel', '--log', '--log-format', '--rootless'].map((flag) => [flag, flag])),
};
const BOOLEAN_FLAGS = new Set(['--debug', '--systemd-cgroup', '--tty', '-t', '--no-tty', '--no-pivot', '--no-new-keyring']);
/** The flags whose values oclif checks against a list: any other value is oclif's to refuse. */
const CHOICES: Readonly<Record<string, readonly string[]>> = { '--accel': ['auto', 'kvm', 'tcg'], '--driver': DRIVERS, '--log-format': ['text', 'json'] };

/** `run` and its arguments (global flags already hoisted behind it), if the fast path can take them. */
export function parseFastRun(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): FastRunArgs | undefined {
  if (argv[0] !== 'run') return undefined;
  const values = new Map<string, string>();
  const booleans = new Set<string>();
  const positional: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const valueFlag = FAST_VALUE_FLAGS[name];
    if (!arg.startsWith('-')) positional.push(arg);
    else if (valueFlag && !values.has(valueFlag) && (eq > 0 || i + 1 < argv.length)) values.set(valueFlag, eq > 0 ? arg.slice(eq + 1) : argv[++i]);
    else if (eq < 0 && BOOLEAN_FLAGS.has(arg) && !booleans.has(arg)) booleans.add(arg);
    else return undefined;
  }
  const chosen = Object.entries(CHOICES).every(([flag, choices]) => !values.has(flag) || choices.includes(values.get(flag)!));
  const ttys = ['--tty', '-t', '--no-tty'].filter((flag) => booleans.has(flag));
  if (positional.length !== 1 || !chosen || ttys.length > 1) return undefined;
  return {
    id: positional[0],
    bundle: values.get('--bundle') ?? '.',
    tty: ttys.length ? ttys[0] !== '--no-tty' : undefined,
    options: {
      root: values.get('--root') ?? DEFAULT_ROOT,
      imagesDir: values.get('--images-dir') ?? DEFAULT_IMAGES_DIR,
      templateDir: values.get('--template-dir'),
      libvirtUri: values.get('--libvirt-uri') ?? env.RUNV_LIBVIRT_URI,
      config: values.get('--config') ?? env.RUNV_CONFIG,
      driver: values.get('--driver') as DriverName | undefined,
      accel: (values.get('--accel') ?? 'auto') as AccelChoice,
      debug: booleans.has('--debug'),
      log: values.get('--log'),
      logFormat: values.get('--log-format') ?? 'text',
    },
  };
}

/** A foreground run on runv's own stdio and signals; the exit code is the container's status. */
export async function runInForeground(services: Container, id: string, bundle: string, tty: boolean | undefined): Promise<void> {
  const status = await services.get(RunService).run({
    id,
    bundle,
    terminal: tty,
    stdio: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
    signals: process,
  });
  process.exitCode = status;
}

/** What RunvCommand does around a command (the error boundary, closing libvirt), for a fast run. */
export async function fastRun(args: FastRunArgs): Promise<void> {
  let services: Container | undefined;
  try {
    services = servicesFor(args.options);
    await runInForeground(services, args.id, args.bundle, args.tty);
  } catch (error) {
    if (!reportError(error as Error, args.options)) {
      process.stderr.write(`runv: ${(error as Error).stack}\n`);
      process.exitCode = 1;
    }
  } finally {
    if (services?.isBound(Hypervisor)) await services.get<Hypervisor>(Hypervisor).close();
  }
}
