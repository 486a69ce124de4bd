import { Command, Flags, Interfaces } from '@oclif/core';
import { Container } from 'inversify';
import { RunvError } from '../core/errors';
import { createContainer } from '../di/container';
import { appendErrorLog } from './error-log';
import { StderrLogger } from '../log/stderr-logger';
import { Hypervisor } from '../core/ports';
import { DRIVERS, DriverName } from '../core/model';
import { AccelChoice } from '../hypervisor/accel';
import { DEFAULT_IMAGES_DIR } from '../image/image-layout';
import { DEFAULT_LIBVIRT_URI, DEFAULT_ROOT, defaultRuntimeConfig, RuntimeConfig } from '../runtime/runtime-config';
import { DEFAULT_CONFIG_FILE, readConfigFile } from '../runtime/config-file';

export type RunvFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof RunvCommand)['baseFlags'] & T['flags']>;

/**
 * What every runv command shares: the global flags (runc's, plus runv's own), the service
 * container built from them, and the CLI boundary where a RunvError becomes one line on stderr
 * and its exit code.
 */
export abstract class RunvCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    root: Flags.string({ summary: 'Directory for container state.', default: DEFAULT_ROOT, helpGroup: 'GLOBAL' }),
    'images-dir': Flags.string({ summary: 'Directory of guest images.', default: DEFAULT_IMAGES_DIR, helpGroup: 'GLOBAL' }),
    'template-dir': Flags.string({ summary: 'Directory of libvirt domain templates.', helpGroup: 'GLOBAL' }),
    'libvirt-uri': Flags.string({ summary: `libvirt connection URI; default: the driver's (${DEFAULT_LIBVIRT_URI} for kvm and qemu).`, env: 'RUNV_LIBVIRT_URI', helpGroup: 'GLOBAL' }),
    config: Flags.string({ summary: `Runtime config file (driver, templates, storage, annotations); default ${DEFAULT_CONFIG_FILE}, used if present.`, env: 'RUNV_CONFIG', helpGroup: 'GLOBAL' }),
    driver: Flags.string({ summary: 'libvirt driver: kvm, qemu (TCG), xen or lxc; default: kvm where it really works, else qemu.', options: [...DRIVERS], helpGroup: 'GLOBAL' }),
    accel: Flags.string({ summary: 'Accelerator: kvm, tcg, or auto (KVM only where it really works).', default: 'auto', options: ['auto', 'kvm', 'tcg'], helpGroup: 'GLOBAL' }),
    debug: Flags.boolean({ summary: 'Log what runv does, with timings, and print stack traces of errors.', helpGroup: 'GLOBAL' }),
    log: Flags.string({ summary: 'Also append errors to this file (runc\'s --log; containerd reads it).', helpGroup: 'GLOBAL' }),
    'log-format': Flags.string({ summary: 'Format of --log lines.', options: ['text', 'json'], default: 'text', helpGroup: 'GLOBAL' }),
    'systemd-cgroup': Flags.boolean({ summary: 'Accepted for runc compatibility: a VM has no host cgroup to place.', helpGroup: 'GLOBAL' }),
    rootless: Flags.string({ summary: 'Accepted for runc compatibility (true, false, auto).', helpGroup: 'GLOBAL' }),
  };

  protected flags!: RunvFlags<T>;
  private services: Container | undefined;

  override async init(): Promise<void> {
    await super.init();
    const { flags } = await this.parse(this.ctor);
    this.flags = flags as RunvFlags<T>;
  }

  protected runtimeConfig(): RuntimeConfig {
    return defaultRuntimeConfig({
      ...readConfigFile(this.flags.config),
      root: this.flags.root,
      imagesDir: this.flags['images-dir'],
      templateDir: this.flags['template-dir'],
      libvirtUri: this.flags['libvirt-uri'],
      driver: this.flags.driver as DriverName | undefined,
      // oclif has checked it against the flag's options.
      accel: this.flags.accel as AccelChoice,
    });
  }

  protected get container(): Container {
    this.services ??= createContainer(this.runtimeConfig(), this.flags.debug ? new StderrLogger() : undefined);
    return this.services;
  }

  /** What went wrong without failing the command (hooks the spec only wants logged), on stderr. */
  protected printWarnings(warnings: readonly string[]): void {
    for (const warning of warnings) process.stderr.write(`runv: warning: ${warning}\n`);
  }

  protected override async finally(error: Error | undefined): Promise<void> {
    if (this.services?.isBound(Hypervisor)) await this.services.get<Hypervisor>(Hypervisor).close();
    return super.finally(error);
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<void> {
    const known = error instanceof RunvError ? error : fromSystemError(error);
    if (!known) return super.catch(error);
    process.stderr.write(`runv: ${this.flags?.debug ? known.stack : known.message}\n`);
    appendErrorLog(this.flags?.log, this.flags?.['log-format'], known.message);
    process.exitCode = known.exitCode;
  }
}

/** A failed system call on a path the user gave (an unwritable --root, say): one line, not a trace. */
function fromSystemError(error: NodeJS.ErrnoException): RunvError | undefined {
  if (!error.code || !error.syscall) return undefined;
  return new RunvError('internal', `${error.syscall} ${error.path ?? ''}: ${error.code}`.replace(' :', ':'), { cause: error });
}
