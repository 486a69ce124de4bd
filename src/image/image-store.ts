import { readFile, readlink, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { injectable } from 'inversify';
import { RunvError } from '../core/errors';
import {
  CURRENT_LINK,
  DEFAULT_IMAGES_DIR,
  GuestImage,
  ImageManifest,
  INITRD_FILE,
  BLOCK_INITRD_FILE,
  MANIFEST_FILE,
  VMLINUX_FILE,
} from './image-layout';

/** Reads the guest images that ImageBuilder wrote; see image-layout.ts for the layout. */
@injectable()
export class ImageStore {
  /** The image `runv image build` made current, which new VMs boot. */
  async current(imagesDir: string = DEFAULT_IMAGES_DIR): Promise<GuestImage> {
    const target = await readlink(join(imagesDir, CURRENT_LINK)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw missingImage(imagesDir);
      throw new RunvError('image-missing', `${join(imagesDir, CURRENT_LINK)} is not a link to a guest image (${err.code}): run \`runv image build\``);
    });
    const dir = resolve(imagesDir, target);
    const image = await this.read(dir);
    if (!image) throw new RunvError('image-missing', `guest image ${dir} is incomplete: run \`runv image build --force\``);
    return image;
  }

  /** The image in `dir`, or undefined unless its manifest and all its files are there (an older layout's are not). */
  async read(dir: string): Promise<GuestImage | undefined> {
    const manifest = await readManifest(join(dir, MANIFEST_FILE));
    if (!manifest) return undefined;
    const image = { dir, kernel: join(dir, VMLINUX_FILE), initrd: join(dir, INITRD_FILE), blockInitrd: join(dir, BLOCK_INITRD_FILE), manifest };
    const { vmlinux, initrd, blockInitrd } = manifest.sizes;
    const sizes = await Promise.all([image.kernel, image.initrd, image.blockInitrd].map(sizeOf));
    const sizesMatch = blockInitrd !== undefined && sizes[0] === vmlinux && sizes[1] === initrd && sizes[2] === blockInitrd;
    return sizesMatch ? image : undefined;
  }
}

function missingImage(imagesDir: string): RunvError {
  return new RunvError('image-missing', `no guest image in ${imagesDir}: run \`runv image build\``);
}

async function readManifest(path: string): Promise<ImageManifest | undefined> {
  let parsed: Partial<ImageManifest> | undefined;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<ImageManifest>;
  } catch {
    return undefined;
  }
  return typeof parsed?.key === 'string' && typeof parsed.sizes === 'object' ? (parsed as ImageManifest) : undefined;
}

async function sizeOf(path: string): Promise<number | undefined> {
  return stat(path).then((stats) => stats.size, () => undefined);
}
