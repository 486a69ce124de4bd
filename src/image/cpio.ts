import { RunvError } from '../core/errors';

/**
 * A writer for the "newc" cpio format, the one the kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst). The kernel creates no parent
 * directories, so callers list every directory before what it contains.
 */
export type CpioEntry =
  | { readonly type: 'directory'; readonly path: string; readonly mode?: number }
  | { readonly type: 'file'; readonly path: string; readonly data: Buffer; readonly mode?: number }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string };

const MAGIC = '070701';
const TRAILER = 'TRAILER!!!';
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

interface Header {
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly fileSize: number;
  readonly name: string;
}

export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts = entries.flatMap((entry, i) => entryParts(entry, i + 1));
  parts.push(...record({ ino: 0, mode: 0, nlink: 1, fileSize: 0, name: TRAILER }, Buffer.alloc(0)));
  return Buffer.concat(parts);
}

function entryParts(entry: CpioEntry, ino: number): Buffer[] {
  const name = archiveName(entry.path);
  switch (entry.type) {
    case 'directory':
      return record({ ino, mode: S_IFDIR | (entry.mode ?? 0o755), nlink: 2, fileSize: 0, name }, Buffer.alloc(0));
    case 'file':
      return record({ ino, mode: S_IFREG | (entry.mode ?? 0o644), nlink: 1, fileSize: entry.data.length, name }, entry.data);
    case 'symlink': {
      const target = Buffer.from(entry.target);
      return record({ ino, mode: S_IFLNK | 0o777, nlink: 1, fileSize: target.length, name }, target);
    }
  }
}

/** Archive names are relative (`init`, `lib/modules`), the form the kernel and cpio expect. */
function archiveName(path: string): string {
  const name = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!name || name.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new RunvError('invalid-argument', `cpio: bad entry path ${JSON.stringify(path)}`);
  }
  return name;
}

function record(header: Header, data: Buffer): Buffer[] {
  const name = Buffer.from(`${header.name}\0`);
  // uid, gid and mtime are 0 so that the same inputs give a byte-identical initrd.
  const fields = [header.ino, header.mode, 0, 0, header.nlink, 0, header.fileSize, 0, 0, 0, 0, name.length, 0];
  const head = Buffer.from(MAGIC + fields.map(hex8).join(''), 'latin1');
  return [head, name, padding(head.length + name.length), data, padding(data.length)];
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/** newc aligns both the name (after the 110-byte header) and the data to 4 bytes. */
function padding(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}
