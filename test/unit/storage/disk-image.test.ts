import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectDiskImage } from '../../../src/storage/disk-image';

/** Real images made by qemu-img and mkfs: what a block rootfs may be, and what it may not name. */
describe('disk image inspection', function () {
  this.timeout(20_000);
  let dir: string;
  const qemuImg = (...args: string[]): void => void execFileSync('qemu-img', ['create', '-q', ...args]);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-disk-test-'));
    const raw = path.join(dir, 'ext4.raw');
    fs.closeSync(fs.openSync(raw, 'w'));
    fs.truncateSync(raw, 16 * 2 ** 20);
    execFileSync('mkfs.ext4', ['-q', raw]);
    execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, path.join(dir, 'ext4.qcow2')]);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads raw and qcow2 images holding ext4', async () => {
    assert.deepEqual(await inspectDiskImage(path.join(dir, 'ext4.raw')), { kind: 'file', format: 'raw', filesystem: 'ext4' });
    assert.deepEqual(await inspectDiskImage(path.join(dir, 'ext4.qcow2')), { kind: 'file', format: 'qcow2', filesystem: 'ext4' });
  });

  it('refuses a qcow2 image that names a backing file, without reading it', async () => {
    const top = path.join(dir, 'top.qcow2');
    qemuImg('-f', 'qcow2', '-b', path.join(dir, 'ext4.qcow2'), '-F', 'qcow2', top);
    await assert.rejects(inspectDiskImage(top), { code: 'invalid-spec', message: /top\.qcow2 is a qcow2 image with a backing file, which runv does not open/ });
  });

  it('refuses a qcow2 image whose data lives in an external file', async () => {
    const image = path.join(dir, 'external.qcow2');
    qemuImg('-f', 'qcow2', '-o', `data_file=${path.join(dir, 'external.data')}`, image, '16M');
    await assert.rejects(inspectDiskImage(image), { message: /with an external data file/ });
  });
});
