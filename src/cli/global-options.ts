import { Container } from 'inversify';
import { RunvError } from '../core/errors';
import { createContainer } from '../di/container';
import { AccelChoice } from '../hypervisor/accel';
import { StderrLogger } from '../log/stderr-logger';
import { readConfigFile } from '../runtime/config-file';
import { DriverName } from '../core/model';
import { defaultRuntimeConfig, RuntimeConfig } from '../runtime/runtime-config';
import { appendErrorLog } from './error-log';

/** The global flags' values, as oclif (RunvCommand) or the fast path (fast-run.ts) parsed them. */
export interface GlobalOptions {
  readonly root: string;
  readonly imagesDir: string;
  readonly templateDir?: string;
  /** Undefined: the driver's (runtime-config.ts). */
  readonly libvirtUri?: string;
  readonly config?: string;
  readonly driver?: DriverName;
  readonly accel: AccelChoice;
  readonly debug: boolean;
  readonly log?: string;
  readonly logFormat?: string;
}

export function runtimeConfigOf(options: GlobalOptions): RuntimeConfig {
  return defaultRuntimeConfig({
    ...readConfigFile(options.config),
    root: options.root,
    imagesDir: options.imagesDir,
    templateDir: options.templateDir,
    libvirtUri: options.libvirtUri,
    driver: options.driver,
    accel: options.accel,
  });
}

export function servicesFor(options: GlobalOptions): Container {
  return createContainer(runtimeConfigOf(options), options.debug ? new StderrLogger() : undefined);
}

/**
 * The CLI boundary: a RunvError, or a failed system call on a path the user gave, becomes one
 * line on stderr (and in --log) and its exit code. False for anything else, a bug to show whole.
 */
export function reportError(error: Error, options: Partial<GlobalOptions> | undefined): boolean {
  const known = error instanceof RunvError ? error : fromSystemError(error);
  if (!known) return false;
  process.stderr.write(`runv: ${options?.debug ? known.stack : known.message}\n`);
  appendErrorLog(options?.log, options?.logFormat, known.message);
  process.exitCode = known.exitCode;
  return true;
}

/** A failed system call on a path the user gave (an unwritable --root, say): one line, not a trace. */
function fromSystemError(error: NodeJS.ErrnoException): RunvError | undefined {
  if (!error.code || !error.syscall) return undefined;
  return new RunvError('internal', `${error.syscall} ${error.path ?? ''}: ${error.code}`.replace(' :', ':'), { cause: error });
}
