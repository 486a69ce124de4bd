import { Command, Flags, Interfaces } from '@oclif/core';
import { Container } from 'inversify';
import { Hypervisor } from '../core/ports';
import { DRIVERS, DriverName } from '../core/model';
import { AccelChoice } from '../hypervisor/accel';
import { DEFAULT_IMAGES_DIR } from '../image/image-layout';
import { DEFAULT_LIBVIRT_URI, DEFAULT_ROOT, RuntimeConfig } from '../runtime/runtime-config';
import { DEFAULT_CONFIG_FILE } from '../runtime/config-file';
import { GlobalOptions, reportError, runtimeConfigOf, servicesFor } from './global-options';

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
    return runtimeConfigOf(this.globalOptions());
  }

  protected get container(): Container {
    this.services ??= servicesFor(this.globalOptions());
    return this.services;
  }

  private globalOptions(): GlobalOptions {
    const flags = this.flags;
    return {
      root: flags.root,
      imagesDir: flags['images-dir'],
      templateDir: flags['template-dir'],
      libvirtUri: flags['libvirt-uri'],
      config: flags.config,
      driver: flags.driver as DriverName | undefined,
      // oclif has checked it against the flag's options.
      accel: flags.accel as AccelChoice,
      debug: flags.debug,
      log: flags.log,
      logFormat: flags['log-format'],
    };
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
    // Flags parsed by then, or undefined if their parsing is what failed.
    const flags = this.flags as RunvFlags<T> | undefined;
    if (!reportError(error, flags && { debug: flags.debug, log: flags.log, logFormat: flags['log-format'] })) return super.catch(error);
  }
}
