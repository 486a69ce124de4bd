/**
 * The compression formats a Linux kernel uses for its bzImage payload and for modules, told
 * apart by their leading magic bytes the way the kernel's own decompressor does.
 */
export type Compression = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'bzip2' | 'lzma';

const magics: ReadonlyArray<readonly [Compression, readonly number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  // The kernel build writes lz4's legacy frame format (`lz4 -l`), not the modern 04 22 4d 18.
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  // lzma-alone has no real magic: this is the properties byte and dictionary size the kernel's
  // `lzma -9` writes, which is also what the kernel itself checks.
  ['lzma', [0x5d, 0x00, 0x00]],
];

export function detectCompression(data: Buffer): Compression | undefined {
  const match = magics.find(([, magic]) => magic.every((byte, i) => data[i] === byte));
  return match?.[0];
}

/** The command that decompresses each format from stdin to stdout (gzip is done in-process). */
export const decompressCommands: Record<Exclude<Compression, 'gzip'>, readonly string[]> = {
  xz: ['xz', '-dc'],
  zstd: ['zstd', '-dc'],
  lz4: ['lz4', '-dc'],
  bzip2: ['bzip2', '-dc'],
  lzma: ['xz', '--format=lzma', '-dc'],
};
