import type { CpioEntry } from './cpio';

/**
 * The initrd layout that guest-init relies on, exactly:
 *
 *   /init                      guest-init, PID 1
 *   /lib/modules/<name>.ko     flat, uncompressed
 *   /lib/modules/load.order    the .ko file names to load at boot, one a line, dependencies first
 *   /lib/modules/<fs>.order    likewise, loaded when guest-init first mounts a filesystem <fs>
 *   /dev /proc /sys /run /tmp /root   empty mount points
 */
export interface ModuleFile {
  readonly name: string;
  readonly data: Buffer;
}

const MOUNT_POINTS: ReadonlyArray<readonly [string, number]> = [
  ['/dev', 0o755],
  ['/proc', 0o555],
  ['/sys', 0o555],
  ['/run', 0o755],
  ['/tmp', 0o1777],
  ['/root', 0o700],
];

/** Module names by list (`load`, `ext4`, ...), each in load order. */
export type ModuleLists = Readonly<Record<string, readonly string[]>>;

/** The initrd of these lists: of the modules, only those the lists name. */
export function initrdEntries(init: Buffer, modules: readonly ModuleFile[], lists: ModuleLists): CpioEntry[] {
  const listed = new Set(Object.values(lists).flat());
  return [
    { type: 'file', path: '/init', data: init, mode: 0o755 },
    ...MOUNT_POINTS.map(([path, mode]): CpioEntry => ({ type: 'directory', path, mode })),
    { type: 'directory', path: '/lib' },
    { type: 'directory', path: '/lib/modules' },
    ...modules.filter((module) => listed.has(module.name)).map((module): CpioEntry => ({ type: 'file', path: `/lib/modules/${module.name}.ko`, data: module.data })),
    ...Object.entries(lists).map(([list, names]): CpioEntry => ({ type: 'file', path: `/lib/modules/${list}.order`, data: Buffer.from(names.map((name) => `${name}.ko\n`).join('')) })),
  ];
}
