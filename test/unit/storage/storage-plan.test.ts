import assert from 'node:assert/strict';
import { StorageDriverName } from '../../../src/core/model';
import { defaultSpec } from '../../../src/oci/default-spec';
import { specToSandbox } from '../../../src/oci/to-sandbox';
import { filesystemOf } from '../../../src/storage/disk-image';
import { isReadonly, lxcContainer, planStorage, StorageFacts } from '../../../src/storage/storage-plan';

const SHARE_DIR = '/run/runv/shares/0123456789abcdef';
const directory: StorageFacts = { rootfs: { kind: 'directory' }, directories: new Set(['/srv/dir']), shareDir: SHARE_DIR, hostView: '' };
const rawExt4: StorageFacts = { ...directory, rootfs: { kind: 'file', format: 'raw', filesystem: 'ext4' } };

function plan(driver: StorageDriverName, facts = directory, binds: { source: string; destination: string; options: string[] }[] = []) {
  const spec = defaultSpec();
  spec.mounts!.push(...binds.map((b) => ({ ...b, type: 'bind' })));
  return planStorage(specToSandbox(spec, { id: 'c1', bundle: '/b', defaultStorage: driver }), facts);
}

describe('storage plan', () => {
  it('lxc: the root is "/" as it is, binds are left to libvirt, cgroup limits to the domain', () => {
    const spec = defaultSpec();
    spec.mounts!.push({ source: '/srv/dir', destination: '/d', type: 'bind', options: ['rbind'] });
    spec.linux!.resources = { memory: { limit: 200 * 2 ** 20 } };
    const container = lxcContainer(specToSandbox(spec, { id: 'c1', bundle: '/b', defaultStorage: '9p' }));
    assert.deepEqual(container.rootfs, { source: '/', fstype: '', options: '', readonly: true });
    assert.deepEqual([container.shares, container.cgroup], [[], {}]);
    assert.deepEqual(container.mounts.map((m) => m.destination), defaultSpec().mounts!.map((m) => m.destination));
  });

  it('9p: the rootfs is a 9p share, mounted by tag', () => {
    const p = plan('9p');
    assert.deepEqual(p.shares, [{ driver: '9p', source: '/b/rootfs', tag: 'rootfs' }]);
    assert.deepEqual([p.container.rootfs.source, p.container.rootfs.fstype], ['rootfs', '9p']);
    assert.deepEqual([p.disks, p.binds, p.container.shares], [[], [], []]);
  });

  it('virtiofs: the rootfs and the bind sources are virtio-fs shares', () => {
    const p = plan('virtiofs', directory, [{ source: '/srv/dir', destination: '/d', options: ['rbind'] }]);
    assert.deepEqual(p.shares.map((s) => [s.driver, s.tag, s.source]), [['virtiofs', 'rootfs', '/b/rootfs'], ['virtiofs', 'mounts', SHARE_DIR]]);
    assert.deepEqual(p.container.rootfs, { source: 'rootfs', fstype: 'virtiofs', options: '', readonly: true });
    assert.deepEqual(p.container.shares, [{ name: 'mounts', source: 'mounts', fstype: 'virtiofs', options: '' }]);
  });

  it('block: the rootfs is the first virtio disk, bind sources still come over 9p', () => {
    const p = plan('block', rawExt4, [{ source: '/srv/file', destination: '/f', options: ['bind'] }]);
    assert.deepEqual(p.disks, [{ kind: 'file', source: '/b/rootfs', format: 'raw', target: 'vda' }]);
    assert.deepEqual(p.shares.map((s) => [s.driver, s.tag]), [['9p', 'mounts']]);
    assert.deepEqual([p.container.rootfs.source, p.container.rootfs.fstype], ['/dev/vda', 'ext4']);
  });

  it("reaches paths of runv's private mount namespace through its /proc root: 9p and block; virtiofs is refused", () => {
    const privately = { ...directory, hostView: '/proc/42/root' };
    const p = plan('9p', privately, [{ source: '/srv/dir', destination: '/d', options: ['rbind'] }]);
    assert.deepEqual(p.shares.map((s) => s.source), ['/proc/42/root/b/rootfs', `/proc/42/root${SHARE_DIR}`]);
    assert.equal(p.container.rootfs.source, 'rootfs', 'the guest still mounts it by tag');
    assert.equal(plan('block', { ...rawExt4, hostView: '/proc/42/root' }).disks[0].source, '/proc/42/root/b/rootfs');
    assert.throws(() => plan('virtiofs', privately), /virtiofs storage driver cannot reach a rootfs in runv's private mount namespace/);
  });

  it('gives each bind its own entry in the share, in spec order, and the guest its path there', () => {
    const p = plan('9p', directory, [
      { source: '/srv/dir', destination: '/data', options: ['rbind', 'rw'] },
      { source: '/srv/file', destination: '/data/conf', options: ['bind', 'ro'] },
    ]);
    assert.deepEqual(p.binds, [
      { source: '/srv/dir', entry: '0', directory: true, readonly: false, recursive: true },
      { source: '/srv/file', entry: '1', directory: false, readonly: true, recursive: false },
    ]);
    const binds = p.container.mounts.filter((m) => m.type === 'bind');
    assert.deepEqual(binds.map((m) => [m.source, m.destination]), [['mounts/0', '/data'], ['mounts/1', '/data/conf']]);
  });

  it('reads ro and rw as mount(8) does: the last one wins', () => {
    assert.equal(isReadonly(['ro', 'rw']), false);
    assert.equal(isReadonly(['rw', 'nosuid', 'ro']), true);
    assert.equal(isReadonly([]), false);
  });
});

describe('disk image filesystems', () => {
  it('knows ext2/3/4 by the superblock magic and xfs by its first bytes', () => {
    const ext = Buffer.alloc(2048);
    ext.writeUInt16LE(0xef53, 1080);
    assert.equal(filesystemOf(ext), 'ext4');
    assert.equal(filesystemOf(Buffer.concat([Buffer.from('XFSB'), Buffer.alloc(2044)])), 'xfs');
    assert.equal(filesystemOf(Buffer.alloc(4096)), undefined);
  });
});
