import type { CpioEntry } from './cpio';

/**
 * The initrd layout that guest-init relies on, exactly:
 *
 *   /init                      guest-init, PID 1
 *   /lib/modules/<name>.ko     flat, uncompressed
 *   /lib/modules/load.order    the .ko file names, one a line, dependencies first
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

export function initrdEntries(init: Buffer, modules: readonly ModuleFile[]): CpioEntry[] {
  const loadOrder = modules.map((module) => `${module.name}.ko\n`).join('');
  return [
    { type: 'file', path: '/init', data: init, mode: 0o755 },
    ...MOUNT_POINTS.map(([path, mode]): CpioEntry => ({ type: 'directory', path, mode })),
    { type: 'directory', path: '/lib' },
    { type: 'directory', path: '/lib/modules' },
    ...modules.map((module): CpioEntry => ({ type: 'file', path: `/lib/modules/${module.name}.ko`, data: module.data })),
    { type: 'file', path: '/lib/modules/load.order', data: Buffer.from(loadOrder) },
  ];
}
