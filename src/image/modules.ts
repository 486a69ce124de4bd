import { posix } from 'node:path';
import { RunvError } from '../core/errors';

/**
 * Which kernel modules the guest needs and in what order to load them, computed from the
 * kernel's own modules.dep so that it stays right for any Debian kernel version.
 */

/**
 * What the guest loads at boot: only what it uses, since under TCG every module costs boot
 * time. virtio_mmio serves the microvm machine, virtio_pci a template that picks `pc`;
 * virtio_net the interfaces a container's netns gives the VM. Filesystems other than 9p come
 * later, on first use (below).
 */
export const GUEST_MODULES: readonly string[] = ['virtio_mmio', 'virtio_pci', 'virtio_console', '9pnet_virtio', '9p', 'virtio_net'];

/**
 * What guest-init loads only when it mounts a filesystem of that type (from
 * /lib/modules/<type>.order), so that a 9p container's boot does not pay for them. A block
 * rootfs needs its disk driver too: the disk is probed when the driver loads. ext4 and xfs
 * ask the crypto API for crc32c at mount time (metadata checksums), which modules.dep does not
 * say: without crc32c_generic the mount fails with ENOENT.
 */
export const FILESYSTEM_MODULES: Readonly<Record<string, readonly string[]>> = {
  virtiofs: ['virtiofs'],
  ext4: ['virtio_blk', 'crc32c_generic', 'ext4'],
  xfs: ['virtio_blk', 'crc32c_generic', 'xfs'],
};

/**
 * The filesystems only a disk holds (a block rootfs). Their modules are 6.8 of the 8.8 MiB of
 * all modules here, and the whole initrd stays in the guest's RAM (its tmpfs root) and is
 * unpacked at every boot: they go only into the block initrd, which only a VM with a disk boots.
 */
export const DISK_FILESYSTEMS: readonly string[] = ['ext4', 'xfs'];

/** The list guest-init loads at boot, /lib/modules/load.order. */
export const BOOT_LIST = 'load';

export interface KernelModule {
  /** Canonical module name: underscores, no extension, e.g. `virtio_pci`. */
  readonly name: string;
  /** Path relative to the modules directory, as modules.dep spells it. */
  readonly path: string;
  /** Names of the modules this one needs, as listed in modules.dep. */
  readonly dependencies: readonly string[];
}

export type ModuleIndex = ReadonlyMap<string, KernelModule>;

const MODULE_FILE = /\.ko(\.(xz|zst|gz))?$/;

/** `kernel/fs/9p/9p.ko.xz` -> `9p`; `-` and `_` are the same to the kernel, we keep `_`. */
export function moduleName(path: string): string {
  return posix.basename(path).replace(MODULE_FILE, '').replace(/-/g, '_');
}

export function parseModulesDep(text: string): ModuleIndex {
  const index = new Map<string, KernelModule>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const dependencies = line.slice(colon + 1).split(/\s+/).filter(Boolean).map(moduleName);
    index.set(moduleName(path), { name: moduleName(path), path, dependencies });
  }
  return index;
}

/** modules.builtin lists the modules compiled into the kernel, one path a line. */
export function parseModulesBuiltin(text: string): ReadonlySet<string> {
  return new Set(text.split('\n').map((line) => line.trim()).filter(Boolean).map(moduleName));
}

/**
 * Every module the wanted ones need, dependencies before their dependents, each once. A wanted
 * module built into the kernel needs no loading and is left out; any other unknown name is an
 * error rather than a guest that fails later at boot.
 */
export function resolveModules(
  index: ModuleIndex,
  wanted: readonly string[],
  builtin: ReadonlySet<string> = new Set(),
): KernelModule[] {
  const ordered: KernelModule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();

  const visit = (name: string, requiredBy?: string): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      throw new RunvError('invalid-argument', `modules.dep: dependency cycle through ${name}`);
    }
    const module = index.get(name);
    if (!module) throw unknownModule(name, requiredBy);
    state.set(name, 'visiting');
    module.dependencies.forEach((dependency) => visit(dependency, name));
    state.set(name, 'done');
    ordered.push(module);
  };

  for (const name of wanted.map(moduleName)) {
    if (!index.has(name) && builtin.has(name)) continue;
    visit(name);
  }
  return ordered;
}

function unknownModule(name: string, requiredBy: string | undefined): RunvError {
  const where = requiredBy ? `needed by ${requiredBy}, ` : '';
  return new RunvError('not-found', `kernel module ${name} (${where}not in modules.dep and not built in)`);
}
