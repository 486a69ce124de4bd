import type { Compression } from './compression';

/**
 * The on-disk shape of the guest image store, shared by the builder that writes it and the
 * store that reads it:
 *
 *   <imagesDir>/current -> <key>        symlink, replaced atomically
 *   <imagesDir>/<key>/vmlinux           uncompressed kernel ELF, booted through its PVH note
 *   <imagesDir>/<key>/initrd.img        uncompressed newc cpio, which VMs without a disk boot
 *   <imagesDir>/<key>/initrd-block.img  the same plus the modules of the filesystems a disk holds
 *   <imagesDir>/<key>/manifest.json     written last: its presence means the image is complete
 */
export const DEFAULT_IMAGES_DIR = '/var/lib/runv/images';
export const CURRENT_LINK = 'current';
export const VMLINUX_FILE = 'vmlinux';
export const INITRD_FILE = 'initrd.img';
export const BLOCK_INITRD_FILE = 'initrd-block.img';
export const MANIFEST_FILE = 'manifest.json';

/** Bump when the image layout or the initrd contents change for the same inputs. */
export const IMAGE_FORMAT_VERSION = 3;

export interface ImageManifest {
  readonly formatVersion: number;
  readonly key: string;
  readonly kernelVersion: string;
  readonly kernelPath: string;
  readonly kernelCompression: Compression;
  readonly initPath: string;
  /** Every module in the block initrd, each once; the boot ones first, in /lib/modules/load.order order. */
  readonly modules: readonly string[];
  readonly sizes: { readonly vmlinux: number; readonly initrd: number; readonly blockInitrd: number };
  /** ISO 8601. */
  readonly created: string;
}

export interface GuestImage {
  readonly dir: string;
  readonly kernel: string;
  readonly initrd: string;
  /** For a VM with a disk (a block rootfs): its ext4 or xfs modules are in this one only. */
  readonly blockInitrd: string;
  readonly manifest: ImageManifest;
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
