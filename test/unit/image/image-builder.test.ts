import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Container } from 'inversify';
import { ImageBuilder, ImageBuildOptions } from '../../../src/image/image-builder';
import { ImageStore } from '../../../src/image/image-store';
import { fakeVmlinux, kernelPayload, makeBzImage } from '../../fixtures/image/synthetic-bzimage';

const VERSION = '9.9.9-test';
const MODULES_DEP = `kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko
kernel/net/9p/9pnet.ko:
kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko
`;
// Everything else the guest wants is built into this fake kernel.
const MODULES_BUILTIN = ['virtio_mmio', 'virtio_console', 'virtio_blk', 'virtio_net', '9pnet_virtio', 'virtiofs', 'crc32c_generic', 'xfs']
  .map((name) => `kernel/drivers/${name}.ko\n`)
  .join('');

/** A /boot and /lib/modules in a temp dir, with a gzip bzImage and fake (unstrippable) modules. */
function fakeKernelTree(root: string): ImageBuildOptions {
  const modulesDir = join(root, 'lib/modules', VERSION);
  mkdirSync(join(root, 'boot'));
  mkdirSync(modulesDir, { recursive: true });
  const kernelPath = join(root, 'boot', `vmlinuz-${VERSION}`);
  writeFileSync(kernelPath, makeBzImage(kernelPayload(fakeVmlinux(), 'gzip')));
  writeFileSync(join(modulesDir, 'modules.dep'), MODULES_DEP);
  writeFileSync(join(modulesDir, 'modules.builtin'), MODULES_BUILTIN);
  for (const line of MODULES_DEP.trim().split('\n')) {
    const path = join(modulesDir, line.slice(0, line.indexOf(':')));
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, `fake module ${path}\n`);
  }
  const xz = spawnSync('xz', ['-c'], { input: 'fake 9p module\n' });
  writeFileSync(join(modulesDir, 'kernel/fs/9p/9p.ko.xz'), xz.stdout);
  const initPath = join(root, 'guest-init');
  writeFileSync(initPath, 'fake guest-init\n');
  return { kernelPath, modulesDir, initPath, imagesDir: join(root, 'images') };
}

function initrdListing(path: string): string[] {
  return spawnSync('cpio', ['-it', '--quiet'], { input: readFileSync(path) }).stdout.toString().trim().split('\n');
}

function initrdFile(path: string, name: string): string {
  return spawnSync('cpio', ['-i', '--to-stdout', '--quiet', name], { input: readFileSync(path) }).stdout.toString();
}

describe('ImageBuilder', () => {
  let root: string;
  let options: ImageBuildOptions;
  let messages: string[];
  const progress = (message: string): void => {
    messages.push(message);
  };
  const build = (extra: Partial<ImageBuildOptions> = {}) => new ImageBuilder().build({ ...options, ...extra }, progress);

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'runv-image-'));
    options = fakeKernelTree(root);
    messages = [];
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes vmlinux, initrd and manifest under the key and points current at them', async () => {
    const image = await build();
    const key = image.manifest.key;
    assert.match(key, /^[0-9a-f]{16}$/);
    assert.equal(image.dir, join(options.imagesDir!, key));
    assert.equal(readlinkSync(join(options.imagesDir!, 'current')), key);
    assert.deepEqual(readFileSync(image.kernel), fakeVmlinux());
    assert.deepEqual(image.manifest.modules, ['virtio', 'virtio_pci', '9pnet', '9p', 'jbd2', 'ext4']);
    assert.equal(image.manifest.kernelVersion, VERSION);
    assert.equal(image.manifest.kernelCompression, 'gzip');
    assert.deepEqual(JSON.parse(readFileSync(join(image.dir, 'manifest.json'), 'utf8')), image.manifest);
    assert.equal(image.upToDate, false);
    assert.ok(messages.includes(`kernel: extracting vmlinux from ${options.kernelPath} (gzip)`));
  });

  it('lays out the initrd the way guest-init expects, with the disk filesystems in the block one only', async function () {
    if (spawnSync('cpio', ['--version']).status !== 0) this.skip();
    const image = await build();
    const common = ['init', 'dev', 'proc', 'sys', 'run', 'tmp', 'root', 'lib', 'lib/modules', 'lib/modules/virtio.ko', 'lib/modules/virtio_pci.ko', 'lib/modules/9pnet.ko', 'lib/modules/9p.ko'];
    assert.deepEqual(initrdListing(image.initrd), [...common, 'lib/modules/load.order', 'lib/modules/virtiofs.order']);
    assert.deepEqual(initrdListing(image.blockInitrd), [
      ...common,
      'lib/modules/jbd2.ko',
      'lib/modules/ext4.ko',
      'lib/modules/load.order',
      'lib/modules/virtiofs.order',
      'lib/modules/ext4.order',
      'lib/modules/xfs.order',
    ]);
    assert.equal(initrdFile(image.initrd, 'init'), 'fake guest-init\n');
    assert.equal(initrdFile(image.initrd, 'lib/modules/9p.ko'), 'fake 9p module\n');
    assert.equal(initrdFile(image.initrd, 'lib/modules/load.order'), 'virtio.ko\nvirtio_pci.ko\n9pnet.ko\n9p.ko\n');
    // A filesystem's own list, loaded when guest-init first mounts one; built-in ones need none.
    assert.equal(initrdFile(image.blockInitrd, 'lib/modules/ext4.order'), 'jbd2.ko\next4.ko\n');
    assert.equal(initrdFile(image.blockInitrd, 'lib/modules/xfs.order'), '');
  });

  it('does nothing when an image for the same inputs exists', async () => {
    const first = await build();
    messages = [];
    const second = await build();
    assert.equal(second.upToDate, true);
    assert.deepEqual(second.manifest, first.manifest);
    assert.deepEqual(messages, [`image ${first.manifest.key}: up to date`]);
  });

  it('rebuilds an existing image when forced', async () => {
    const first = await build();
    messages = [];
    const forced = await build({ force: true });
    assert.equal(forced.upToDate, false);
    assert.equal(forced.manifest.key, first.manifest.key);
    assert.ok(messages.some((message) => message.startsWith('kernel: extracting vmlinux')));
  });

  it('rebuilds an image whose manifest is missing', async () => {
    const first = await build();
    unlinkSync(join(first.dir, 'manifest.json'));
    assert.equal((await build()).upToDate, false);
  });

  it('makes a new image and moves current when the guest-init binary changes', async () => {
    const first = await build();
    writeFileSync(options.initPath!, 'newer guest-init\n');
    const second = await build();
    assert.notEqual(second.manifest.key, first.manifest.key);
    assert.equal(readlinkSync(join(options.imagesDir!, 'current')), second.manifest.key);
  });

  it('reports a missing guest-init binary as not-found', async () => {
    await assert.rejects(build({ initPath: join(root, 'nope') }), { code: 'not-found', message: /guest init .*nope/ });
  });

  it('reports a kernel without modules as not-found', async () => {
    await assert.rejects(build({ modulesDir: join(root, 'nope') }), { code: 'not-found', message: /modules\.dep/ });
  });

  it('resolves from an inversify container', () => {
    const container = new Container();
    container.bind(ImageStore).toSelf().inSingletonScope();
    container.bind(ImageBuilder).toSelf().inSingletonScope();
    assert.ok(container.get(ImageBuilder) instanceof ImageBuilder);
  });
});

describe('ImageStore', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'runv-image-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds the current image', async () => {
    const options = fakeKernelTree(root);
    const built = await new ImageBuilder().build(options);
    const { upToDate: _, ...image } = built;
    assert.deepEqual(await new ImageStore().current(options.imagesDir), image);
  });

  it('takes an image without its block initrd, as an older layout wrote, for incomplete', async () => {
    const options = fakeKernelTree(root);
    const built = await new ImageBuilder().build(options);
    unlinkSync(built.blockInitrd);
    await assert.rejects(new ImageStore().current(options.imagesDir), { code: 'image-missing', message: /is incomplete: run `runv image build --force`/ });
  });

  it('says how to build an image when there is none', async () => {
    await assert.rejects(new ImageStore().current(join(root, 'images')), {
      code: 'image-missing',
      message: `no guest image in ${join(root, 'images')}: run \`runv image build\``,
    });
  });
});
