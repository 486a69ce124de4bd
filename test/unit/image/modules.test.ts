import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { kernelVersionFromPath, newestKernelFile } from '../../../src/image/kernel-version';
import {
  GUEST_MODULES,
  moduleName,
  parseModulesBuiltin,
  parseModulesDep,
  resolveModules,
} from '../../../src/image/modules';

const MODULES_DEP = `kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/fscache/fscache.ko.zst kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko.xz:
kernel/fs/fscache/fscache.ko.zst: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/drivers/net/net-failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/test/orphan.ko: kernel/test/gone.ko
kernel/test/chicken.ko: kernel/test/egg.ko
kernel/test/egg.ko: kernel/test/chicken.ko
`;

const index = parseModulesDep(MODULES_DEP);
const names = (wanted: string[], builtin?: ReadonlySet<string>): string[] =>
  resolveModules(index, wanted, builtin).map((module) => module.name);

describe('kernel modules', () => {
  it('names a module after its file, without .ko or a compression suffix, with - read as _', () => {
    assert.equal(moduleName('kernel/fs/9p/9p.ko'), '9p');
    assert.equal(moduleName('kernel/fs/9p/9p.ko.xz'), '9p');
    assert.equal(moduleName('kernel/fs/fscache/fscache.ko.zst'), 'fscache');
    assert.equal(moduleName('kernel/drivers/net/net-failover.ko'), 'net_failover');
  });

  it('keeps the path modules.dep gives', () => {
    assert.equal(index.get('9p')?.path, 'kernel/fs/9p/9p.ko.xz');
  });

  it('puts dependencies before their dependents', () => {
    assert.deepEqual(names(['9p']), ['9pnet', 'netfs', 'fscache', '9p']);
  });

  it('lists a dependency shared by several wanted modules once, before the first that needs it', () => {
    assert.deepEqual(names(['virtio_pci', 'virtio_console']), [
      'virtio_pci_modern_dev',
      'virtio_ring',
      'virtio',
      'virtio_pci',
      'virtio_console',
    ]);
  });

  it('lists a wanted module once even when another wanted module needs it', () => {
    assert.deepEqual(names(['virtio', 'virtio_pci', 'virtio_ring']), ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci']);
  });

  it('treats - and _ in wanted names alike', () => {
    assert.deepEqual(names(['net-failover']), ['failover', 'net_failover']);
    assert.deepEqual(names(['net_failover']), ['failover', 'net_failover']);
  });

  it('skips a wanted module that is built into the kernel', () => {
    const builtin = parseModulesBuiltin('kernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio_blk.ko\n');
    assert.deepEqual(names(['ext4', 'virtio-blk', 'virtio_ring'], builtin), ['virtio_ring']);
  });

  it('rejects a wanted module that is neither in modules.dep nor built in', () => {
    assert.throws(() => names(['ext4']), { code: 'not-found', message: /ext4/ });
  });

  it('rejects a dependency that modules.dep has no entry for, naming who needs it', () => {
    assert.throws(() => names(['orphan']), { code: 'not-found', message: /gone \(needed by orphan/ });
  });

  it('rejects a dependency cycle', () => {
    assert.throws(() => names(['chicken']), { code: 'invalid-argument', message: /cycle/ });
  });

  it('resolves the guest modules against the installed Debian kernel', function () {
    const kernel = existsSync('/boot') ? newestKernelFile(readdirSync('/boot')) : undefined;
    const dir = `/lib/modules/${kernel && kernelVersionFromPath(kernel)}`;
    if (!existsSync(`${dir}/modules.dep`)) this.skip();
    const modules = resolveModules(
      parseModulesDep(readFileSync(`${dir}/modules.dep`, 'utf8')),
      GUEST_MODULES,
      parseModulesBuiltin(readFileSync(`${dir}/modules.builtin`, 'utf8')),
    ).map((module) => module.name);
    assert.ok(modules.indexOf('virtio_ring') < modules.indexOf('virtio'));
    assert.ok(modules.indexOf('netfs') < modules.indexOf('fscache'));
    assert.ok(modules.indexOf('9pnet_virtio') < modules.indexOf('9p'));
    assert.equal(new Set(modules).size, modules.length);
  });
});
