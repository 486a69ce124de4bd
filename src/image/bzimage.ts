import { RunvError } from '../core/errors';
import { Compression, detectCompression } from './compression';
import { decompress } from './decompress';

/**
 * A bzImage is real-mode setup code followed by a small decompressor and the compressed vmlinux
 * ELF. Booting that ELF directly (through its PVH note) skips the decompression that dominates a
 * TCG boot, so the image builder pulls it out once. Offsets are from the x86 boot protocol
 * (Documentation/arch/x86/boot.rst).
 */
const SETUP_SECTS = 0x1f1;
const HEADER_MAGIC = 0x202;
const PROTOCOL_VERSION = 0x206;
const PAYLOAD_OFFSET = 0x248;
const PAYLOAD_LENGTH = 0x24c;
const HEADER_END = 0x250;
// payload_offset and payload_length appeared in boot protocol 2.08.
const MIN_PROTOCOL = 0x0208;
const SECTOR = 512;
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export interface BzImagePayload {
  /** Byte offset of the compressed payload from the start of the file. */
  readonly offset: number;
  readonly length: number;
  readonly compression: Compression;
}

export function locatePayload(image: Buffer): BzImagePayload {
  if (image.length < HEADER_END || image.toString('latin1', HEADER_MAGIC, HEADER_MAGIC + 4) !== 'HdrS') {
    throw new RunvError('invalid-argument', 'not a bzImage: no "HdrS" boot setup header');
  }
  const protocol = image.readUInt16LE(PROTOCOL_VERSION);
  if (protocol < MIN_PROTOCOL) {
    throw new RunvError('invalid-argument', `bzImage boot protocol ${protocol.toString(16)} is older than 2.08`);
  }
  // A setup_sects of 0 means 4, for compatibility with ancient boot loaders.
  const setupSectors = image[SETUP_SECTS] || 4;
  const protectedModeStart = (setupSectors + 1) * SECTOR;
  const offset = protectedModeStart + image.readUInt32LE(PAYLOAD_OFFSET);
  const length = image.readUInt32LE(PAYLOAD_LENGTH);
  if (length === 0 || offset + length > image.length) {
    throw new RunvError('invalid-argument', `bzImage payload (${length} bytes at ${offset}) lies outside the file`);
  }
  const compression = detectCompression(image.subarray(offset, offset + length));
  if (!compression) {
    throw new RunvError('invalid-argument', `bzImage payload has an unknown compression (magic ${image.toString('hex', offset, offset + 4)})`);
  }
  return { offset, length, compression };
}

/**
 * The bytes to hand to the decompressor. Kbuild appends the uncompressed size as 4 bytes after
 * every format except gzip (which stores it itself); the standard tools reject that trailer.
 */
export function compressedStream(image: Buffer, payload: BzImagePayload): Buffer {
  const trailer = payload.compression === 'gzip' ? 0 : 4;
  return image.subarray(payload.offset, payload.offset + payload.length - trailer);
}

export function isElf(data: Buffer): boolean {
  return data.subarray(0, ELF_MAGIC.length).equals(ELF_MAGIC);
}

export async function extractVmlinux(image: Buffer, payload: BzImagePayload = locatePayload(image)): Promise<Buffer> {
  const vmlinux = await decompress(compressedStream(image, payload), payload.compression);
  if (!isElf(vmlinux)) {
    throw new RunvError('invalid-argument', `the ${payload.compression} payload of the bzImage is not an ELF vmlinux`);
  }
  return vmlinux;
}
