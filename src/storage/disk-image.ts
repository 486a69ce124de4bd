import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunvError } from '../core/errors';
import { runTool } from '../image/run-tool';
import { DiskFilesystem, DiskFormat } from './storage-plan';

const HEAD_BYTES = 65536;
const QCOW2_MAGIC = Buffer.from('QFI\xfb', 'latin1');
/** qcow2 header fields (big-endian): where a backing file is named, and v3's incompatible features. */
const QCOW2_BACKING_FILE_OFFSET = 8;
const QCOW2_INCOMPATIBLE_FEATURES = 72;
const QCOW2_V3_HEADER_BYTES = 104;
const QCOW2_EXTERNAL_DATA_FILE = 1n << 2n;
/** ext2/3/4 share a superblock at 1024 whose magic 0xEF53 sits 56 bytes in; XFS starts with XFSB. */
const EXT_MAGIC_OFFSET = 1024 + 56;

export interface DiskImage {
  kind: 'file' | 'block';
  format: DiskFormat;
  filesystem: DiskFilesystem;
}

/**
 * What a block rootfs is, read on the host before any VM exists: a disk image file (raw or
 * qcow2) or a block device, holding a filesystem the guest can mount (ext4 or xfs).
 */
export async function inspectDiskImage(file: string): Promise<DiskImage> {
  const stat = fs.statSync(file);
  if (!stat.isFile() && !stat.isBlockDevice()) {
    throw new RunvError('invalid-spec', `config.json: root.path: ${file} is not a disk image or block device, which the block storage driver needs`);
  }
  const head = readHead(file);
  const format: DiskFormat = head.subarray(0, 4).equals(QCOW2_MAGIC) ? 'qcow2' : 'raw';
  if (format === 'qcow2') refuseExternalFiles(file, head);
  const filesystem = filesystemOf(format === 'qcow2' ? await qcow2Head(file) : head);
  if (!filesystem) throw new RunvError('invalid-spec', `config.json: root.path: ${file} (${format}) holds no ext4 or xfs filesystem`);
  return { kind: stat.isFile() ? 'file' : 'block', format, filesystem };
}

/**
 * A qcow2 image can name other files, which QEMU (as root) would open: a backing file, an
 * external data file. The image may have been written from inside a container (a raw image
 * whose first bytes a guest rewrote reads as qcow2), so runv takes neither.
 */
function refuseExternalFiles(file: string, head: Buffer): void {
  const refuse = (what: string): never => {
    throw new RunvError('invalid-spec', `config.json: root.path: ${file} is a qcow2 image with ${what}, which runv does not open: flatten it first (qemu-img convert)`);
  };
  if (head.length < QCOW2_V3_HEADER_BYTES) refuse('a truncated header');
  if (head.readBigUInt64BE(QCOW2_BACKING_FILE_OFFSET) !== 0n) refuse('a backing file');
  if (head.readUInt32BE(4) >= 3 && (head.readBigUInt64BE(QCOW2_INCOMPATIBLE_FEATURES) & QCOW2_EXTERNAL_DATA_FILE) !== 0n) refuse('an external data file');
}

function readHead(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    return head.subarray(0, fs.readSync(fd, head, 0, HEAD_BYTES, 0));
  } finally {
    fs.closeSync(fd);
  }
}

export function filesystemOf(head: Buffer): DiskFilesystem | undefined {
  if (head.length >= EXT_MAGIC_OFFSET + 2 && head.readUInt16LE(EXT_MAGIC_OFFSET) === 0xef53) return 'ext4';
  if (head.subarray(0, 4).toString('latin1') === 'XFSB') return 'xfs';
  return undefined;
}

/** The guest's view of a qcow2 image's first bytes, through qemu-img (it cannot write to a pipe). */
async function qcow2Head(file: string): Promise<Buffer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-disk-'));
  try {
    const out = path.join(dir, 'head');
    await runTool(['qemu-img', 'dd', '-f', 'qcow2', '-O', 'raw', `bs=${HEAD_BYTES}`, 'count=1', `if=${file}`, `of=${out}`]);
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
