import { basename } from 'node:path';

/** Debian names its kernels /boot/vmlinuz-<version>, and the modules /lib/modules/<version>. */
export function kernelVersionFromPath(kernelPath: string): string | undefined {
  return /^vmlinuz-(.+)$/.exec(basename(kernelPath))?.[1];
}

/** Like `sort -V`: digit runs compare as numbers, so 6.1.0-57 is newer than 6.1.0-9. */
export function compareKernelVersions(a: string, b: string): number {
  const left = a.match(/\d+|\D+/g) ?? [];
  const right = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = compareToken(left[i], right[i]);
    if (order !== 0) return order;
  }
  return left.length - right.length;
}

function compareToken(a: string, b: string): number {
  if (/^\d/.test(a) && /^\d/.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The newest `vmlinuz-<version>` among the names of a directory's entries. */
export function newestKernelFile(names: readonly string[]): string | undefined {
  const kernels = names.filter((name) => kernelVersionFromPath(name) !== undefined);
  return kernels.sort((a, b) => compareKernelVersions(a, b)).at(-1);
}
