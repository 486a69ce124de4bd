import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inject, injectable, optional } from 'inversify';
import { RunvError } from '../core/errors';
import { extractVmlinux, locatePayload } from './bzimage';
import { detectCompression } from './compression';
import { writeCpio } from './cpio';
import { decompress } from './decompress';
import {
  CURRENT_LINK,
  DEFAULT_IMAGES_DIR,
  formatMiB,
  GuestImage,
  IMAGE_FORMAT_VERSION,
  ImageManifest,
  INITRD_FILE,
  BLOCK_INITRD_FILE,
  MANIFEST_FILE,
  VMLINUX_FILE,
} from './image-layout';
import { ImageStore } from './image-store';
import { initrdEntries, ModuleFile, ModuleLists } from './initrd';
import { kernelVersionFromPath, newestKernelFile } from './kernel-version';
import { BOOT_LIST, DISK_FILESYSTEMS, FILESYSTEM_MODULES, GUEST_MODULES, parseModulesBuiltin, parseModulesDep, resolveModules } from './modules';
import { runTool } from './run-tool';

const BOOT_DIR = '/boot';
const MODULES_ROOT = '/lib/modules';
// Two levels up from src/image (ts-node) or dist/image (compiled) is the package root.
const DEFAULT_INIT_PATH = resolve(__dirname, '..', '..', 'guest-init', 'build', 'guest-init');

export interface ImageBuildOptions {
  /** A bzImage; default: the newest /boot/vmlinuz-<version>. */
  readonly kernelPath?: string;
  /** Default: /lib/modules/<version of the kernel file name>. */
  readonly modulesDir?: string;
  /** The static guest-init binary; default: <package root>/guest-init/build/guest-init. */
  readonly initPath?: string;
  readonly imagesDir?: string;
  /** Rebuild even when an image for the same inputs exists. */
  readonly force?: boolean;
}

/** Receives one-line messages for humans about what the build is doing. */
export type ImageProgress = (message: string) => void;

export interface ImageBuildResult extends GuestImage {
  /** True when an image for the same inputs already existed and nothing was built. */
  readonly upToDate: boolean;
}

/** Everything the image is made from; its hash is the image key. */
interface BuildInputs {
  readonly kernelPath: string;
  readonly kernelVersion: string;
  readonly kernel: Buffer;
  readonly initPath: string;
  readonly init: Buffer;
  /** As found on disk (maybe compressed), each once: the boot list's first, in load order. */
  readonly modules: readonly ModuleFile[];
  readonly lists: ModuleLists;
}

/**
 * Turns a distribution kernel, its modules and guest-init into a bootable guest image (see
 * image-layout.ts) and makes it current. Images are keyed by a hash of their inputs, so a
 * rebuild with unchanged inputs does nothing.
 */
@injectable()
export class ImageBuilder {
  constructor(@inject(ImageStore) @optional() private readonly store: ImageStore = new ImageStore()) {}

  async build(options: ImageBuildOptions, progress: ImageProgress = () => undefined): Promise<ImageBuildResult> {
    const inputs = await readInputs(options);
    const key = imageKey(inputs);
    const imagesDir = options.imagesDir ?? DEFAULT_IMAGES_DIR;
    const dir = join(imagesDir, key);
    const existing = options.force ? undefined : await this.store.read(dir);
    if (existing) progress(`image ${key}: up to date`);
    const image = existing ?? (await writeImage(imagesDir, key, inputs, progress));
    await pointCurrentAt(imagesDir, key);
    return { ...image, upToDate: existing !== undefined };
  }
}

async function readInputs(options: ImageBuildOptions): Promise<BuildInputs> {
  const kernelPath = options.kernelPath ?? (await newestBootKernel());
  const kernel = await readRequired(kernelPath, 'kernel', 'pass --kernel');
  const kernelVersion = kernelVersionFromPath(await realpath(kernelPath));
  if (!kernelVersion) {
    throw new RunvError('invalid-argument', `cannot tell the kernel version from ${kernelPath}: name it vmlinuz-<version>`);
  }
  const initPath = options.initPath ?? DEFAULT_INIT_PATH;
  const init = await readRequired(initPath, 'guest init', 'build it with `make -C guest-init` or pass --init');
  const { modules, lists } = await readModules(options.modulesDir ?? join(MODULES_ROOT, kernelVersion));
  return { kernelPath, kernelVersion, kernel, initPath, init, modules, lists };
}

async function newestBootKernel(): Promise<string> {
  const newest = newestKernelFile(await readdir(BOOT_DIR));
  if (!newest) throw new RunvError('not-found', `no ${BOOT_DIR}/vmlinuz-* kernel: install linux-image-amd64 or pass --kernel`);
  return join(BOOT_DIR, newest);
}

async function readModules(modulesDir: string): Promise<{ modules: ModuleFile[]; lists: ModuleLists }> {
  const hint = "install the kernel's modules or pass --modules-dir";
  const dep = await readRequired(join(modulesDir, 'modules.dep'), 'module list', hint);
  const builtin = parseModulesBuiltin(await readFile(join(modulesDir, 'modules.builtin'), 'utf8').catch(ifMissing('')));
  const index = parseModulesDep(dep.toString());
  const wanted = { [BOOT_LIST]: GUEST_MODULES, ...FILESYSTEM_MODULES };
  const resolved = Object.entries(wanted).map(([list, names]) => [list, resolveModules(index, names, builtin)] as const);
  const unique = new Map(resolved.flatMap(([, modules]) => modules.map((module) => [module.name, module] as const)));
  const modules = await Promise.all(
    [...unique.values()].map(async ({ name, path }) => ({
      name,
      data: await readRequired(resolve(modulesDir, path), 'kernel module', `${modulesDir}/modules.dep lists it`),
    })),
  );
  return { modules, lists: Object.fromEntries(resolved.map(([list, found]) => [list, found.map((module) => module.name)])) };
}

async function readRequired(path: string, what: string, hint: string): Promise<Buffer> {
  return readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
    throw new RunvError('not-found', `${what} ${path} not found: ${hint}`, { cause: err });
  });
}

function ifMissing<T>(fallback: T): (err: NodeJS.ErrnoException) => T {
  return (err) => {
    if (err.code !== 'ENOENT') throw err;
    return fallback;
  };
}

function imageKey(inputs: BuildInputs): string {
  const fingerprint = {
    format: IMAGE_FORMAT_VERSION,
    kernel: sha256(inputs.kernel),
    init: sha256(inputs.init),
    modules: inputs.modules.map((module) => [module.name, sha256(module.data)]),
    lists: inputs.lists,
  };
  return sha256(Buffer.from(JSON.stringify(fingerprint))).slice(0, 16);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Builds into a hidden staging dir next to the final one, so the key dir appears complete. */
async function writeImage(imagesDir: string, key: string, inputs: BuildInputs, progress: ImageProgress): Promise<GuestImage> {
  await mkdir(imagesDir, { recursive: true });
  const staging = await mkdtemp(join(imagesDir, `.${key}.tmp-`));
  try {
    const payload = locatePayload(inputs.kernel);
    progress(`kernel: extracting vmlinux from ${inputs.kernelPath} (${payload.compression})`);
    const vmlinux = await extractVmlinux(inputs.kernel, payload);
    await writeFile(join(staging, VMLINUX_FILE), vmlinux);
    progress(`kernel: vmlinux ${formatMiB(vmlinux.length)}`);

    progress(`modules: ${inputs.modules.length} (${inputs.modules.map((module) => module.name).join(', ')})`);
    const modules = await prepareModules(inputs.modules, join(staging, 'modules'), progress);
    // Uncompressed on purpose: under TCG the kernel unpacks a compressed initrd slowly, and the
    // initrd is only a few MiB read from the page cache.
    const initrd = writeCpio(initrdEntries(inputs.init, modules, withoutDiskFilesystems(inputs.lists)));
    await writeFile(join(staging, INITRD_FILE), initrd);
    const blockInitrd = writeCpio(initrdEntries(inputs.init, modules, inputs.lists));
    await writeFile(join(staging, BLOCK_INITRD_FILE), blockInitrd);
    progress(`initrd: ${formatMiB(initrd.length)}, with the disk filesystems' modules ${formatMiB(blockInitrd.length)}`);

    const manifest: ImageManifest = {
      formatVersion: IMAGE_FORMAT_VERSION,
      key,
      kernelVersion: inputs.kernelVersion,
      kernelPath: inputs.kernelPath,
      kernelCompression: payload.compression,
      initPath: inputs.initPath,
      modules: modules.map((module) => module.name),
      sizes: { vmlinux: vmlinux.length, initrd: initrd.length, blockInitrd: blockInitrd.length },
      created: new Date().toISOString(),
    };
    await writeFile(join(staging, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    // mkdtemp makes it 0700, but QEMU may run as another user (libvirt-qemu) and must read it.
    await chmod(staging, 0o755);
    const dir = join(imagesDir, key);
    await replaceDir(staging, dir);
    return { dir, kernel: join(dir, VMLINUX_FILE), initrd: join(dir, INITRD_FILE), blockInitrd: join(dir, BLOCK_INITRD_FILE), manifest };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function withoutDiskFilesystems(lists: ModuleLists): ModuleLists {
  return Object.fromEntries(Object.entries(lists).filter(([list]) => !DISK_FILESYSTEMS.includes(list)));
}

/**
 * Decompresses .ko.xz/.ko.zst modules (the guest's insmod takes plain ELF) and strips their debug
 * info and appended signatures, which saves ~10 ms of guest boot per module. Unstripped modules
 * load just as well, so a missing or failing `strip` only costs that time.
 */
async function prepareModules(modules: readonly ModuleFile[], workDir: string, progress: ImageProgress): Promise<ModuleFile[]> {
  await mkdir(workDir);
  const paths = await Promise.all(
    modules.map(async (module) => {
      const path = join(workDir, `${module.name}.ko`);
      await writeFile(path, await uncompressed(module.data));
      return path;
    }),
  );
  if (paths.length > 0) {
    await runTool(['strip', '--strip-debug', ...paths]).catch((err: Error) => progress(`modules: not stripped (${err.message})`));
  }
  const prepared = await Promise.all(modules.map(async (module, i) => ({ name: module.name, data: await readFile(paths[i]) })));
  await rm(workDir, { recursive: true });
  return prepared;
}

async function uncompressed(data: Buffer): Promise<Buffer> {
  const compression = detectCompression(data);
  return compression ? decompress(data, compression) : data;
}

/** A forced rebuild replaces a complete image: move the old one aside rather than delete it first. */
async function replaceDir(staging: string, dir: string): Promise<void> {
  const old = `${staging}.old`;
  await rename(dir, old).catch(ifMissing(undefined));
  await rename(staging, dir);
  await rm(old, { recursive: true, force: true });
}

/** Replaces the `current` symlink atomically (rename over it), relative so imagesDir can move. */
async function pointCurrentAt(imagesDir: string, key: string): Promise<void> {
  const link = join(imagesDir, CURRENT_LINK);
  const temp = join(imagesDir, `.${CURRENT_LINK}.tmp-${process.pid}`);
  await rm(temp, { force: true });
  await symlink(key, temp);
  await rename(temp, link);
}
