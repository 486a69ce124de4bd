import * as path from 'node:path';
import { DriverName, StorageDriverName } from '../core/model';
import { AccelChoice } from '../hypervisor/accel';
import { DEFAULT_IMAGES_DIR } from '../image/image-layout';

/** Host-wide settings; the CLI's global flags fill them in. */
export interface RuntimeConfig {
  /** Per-container state directories live here (runc's --root). */
  root: string;
  /** Unix sockets live under a short fixed directory: callers' roots can exceed the 107-byte socket path limit. */
  socketDir: string;
  imagesDir: string;
  templateDir: string;
  /** Undefined: the driver's own URI (driverUri). */
  libvirtUri?: string;
  /** Undefined: QEMU, with KVM where it really works (accel), else TCG. */
  driver?: DriverName;
  accel: AccelChoice;
  /** How long a guest may take to boot and answer, under TCG included. */
  bootTimeoutMs: number;
  /** The storage driver of a container whose spec does not pick one (annotation io.runv.storage). */
  storageDriver: StorageDriverName;
  /** Defaults for annotations a spec does not set (the tuning ones: src/oci/tuning.ts). */
  annotations: Record<string, string>;
  /** Host-resource annotations (SR-IOV, vhost-user, cgroup partition) a spec may set itself. */
  allowedAnnotations: string[];
  /** Per-container directories of bind-mount sources, shared with the VM: short and fixed, like socketDir. */
  shareDir: string;
  /** How many booted VMs the warm pool keeps waiting (src/pool); 0: no pool is kept filled. */
  poolSize: number;
}

export const RuntimeConfig = Symbol.for('runv.RuntimeConfig');

export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');
export const DEFAULT_ROOT = '/run/runv';
export const DEFAULT_LIBVIRT_URI = 'qemu:///system';
const DRIVER_URIS: Record<DriverName, string> = { kvm: DEFAULT_LIBVIRT_URI, qemu: DEFAULT_LIBVIRT_URI, xen: 'xen:///system', lxc: 'lxc:///system' };
export const DEFAULT_STORAGE_DRIVER: StorageDriverName = '9p';

export function defaultRuntimeConfig(overrides: Partial<RuntimeConfig> = {}): RuntimeConfig {
  const config: RuntimeConfig = {
    root: DEFAULT_ROOT,
    socketDir: path.join(DEFAULT_ROOT, 'sock'),
    imagesDir: DEFAULT_IMAGES_DIR,
    templateDir: path.join(PACKAGE_ROOT, 'templates'),
    accel: 'auto',
    bootTimeoutMs: 60_000,
    storageDriver: DEFAULT_STORAGE_DRIVER,
    annotations: {},
    allowedAnnotations: [],
    shareDir: path.join(DEFAULT_ROOT, 'shares'),
    poolSize: 0,
    ...stripUndefined(overrides),
  };
  // Paths end up in domain XML, which libvirtd resolves from its own working directory.
  for (const key of ['root', 'socketDir', 'imagesDir', 'templateDir', 'shareDir'] as const) config[key] = path.resolve(config[key]);
  return config;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The socket of the LXC-only libvirtd that scripts/lxc-libvirtd.sh starts where the host's cgroup
 * layout breaks libvirt's LXC driver (docs/design.md, Drivers).
 */
export const LXC_DAEMON_SOCKET = '/run/runv/lxc-libvirtd/libvirt-sock';

/**
 * The libvirt connection a config talks to: the one it names, else its driver's; for lxc, the
 * LXC-only daemon's while it runs (the caller looks for its socket).
 */
export function libvirtUriOf(config: Pick<RuntimeConfig, 'libvirtUri' | 'driver'>, lxcDaemonRunning = false): string {
  if (config.libvirtUri) return config.libvirtUri;
  if (config.driver === 'lxc' && lxcDaemonRunning) return `lxc:///system?socket=${LXC_DAEMON_SOCKET}`;
  return DRIVER_URIS[config.driver ?? 'qemu'];
}

/** What translating a bundle takes from the runtime config. */
export function translateDefaults(config: RuntimeConfig): { defaultStorage: StorageDriverName; defaultAnnotations: Record<string, string>; allowedAnnotations: string[] } {
  return { defaultStorage: config.storageDriver, defaultAnnotations: config.annotations, allowedAnnotations: config.allowedAnnotations };
}
