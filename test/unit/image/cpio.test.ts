import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpioEntry, writeCpio } from '../../../src/image/cpio';

const ENTRIES: CpioEntry[] = [
  { type: 'file', path: '/init', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
  { type: 'directory', path: '/lib' },
  { type: 'directory', path: '/lib/modules' },
  { type: 'file', path: '/lib/modules/a.ko', data: Buffer.from('odd length') },
  { type: 'directory', path: '/tmp', mode: 0o1777 },
  { type: 'symlink', path: '/sbin', target: 'lib' },
];

const cpioAvailable = spawnSync('cpio', ['--version']).status === 0;

/** The 13 hex fields that follow the 070701 magic, by their names in the newc format. */
function header(archive: Buffer, offset = 0): Record<string, number> {
  const names = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'];
  return Object.fromEntries(names.map((name, i) => [name, parseInt(archive.toString('latin1', offset + 6 + i * 8, offset + 14 + i * 8), 16)]));
}

describe('cpio newc writer', () => {
  it('writes a 070701 header with the mode, size and name length of a file', () => {
    const archive = writeCpio([ENTRIES[0]]);
    assert.equal(archive.toString('latin1', 0, 6), '070701');
    const fields = header(archive);
    assert.equal(fields.mode, 0o100755);
    assert.equal(fields.filesize, 18);
    assert.equal(fields.namesize, 'init\0'.length);
    assert.equal(fields.nlink, 1);
    assert.equal(archive.toString('latin1', 110, 114), 'init');
    // 110 + 5 bytes of name pad to 116, where the data starts.
    assert.equal(archive.toString('latin1', 116, 116 + 18), '#!/bin/sh\necho hi\n');
  });

  it('aligns every record to 4 bytes and ends with TRAILER!!!', () => {
    const archive = writeCpio(ENTRIES);
    assert.equal(archive.length % 4, 0);
    const trailer = archive.lastIndexOf('070701');
    assert.equal(trailer % 4, 0);
    assert.equal(archive.toString('latin1', trailer + 110, trailer + 120), 'TRAILER!!!');
  });

  it('rejects paths that would leave the archive root', () => {
    assert.throws(() => writeCpio([{ type: 'directory', path: '/lib/../..' }]), { code: 'invalid-argument' });
    assert.throws(() => writeCpio([{ type: 'directory', path: '/' }]), { code: 'invalid-argument' });
  });

  describe('read back by the system cpio', function () {
    let dir: string;
    before(function () {
      if (!cpioAvailable) this.skip();
    });
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'runv-cpio-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('lists the entries in order', () => {
      const listing = spawnSync('cpio', ['-it', '--quiet'], { input: writeCpio(ENTRIES) });
      assert.equal(listing.status, 0, listing.stderr.toString());
      assert.deepEqual(listing.stdout.toString().trim().split('\n'), ['init', 'lib', 'lib/modules', 'lib/modules/a.ko', 'tmp', 'sbin']);
    });

    it('extracts files, modes, directories and symlinks', () => {
      const extract = spawnSync('cpio', ['-idv', '--quiet'], { cwd: dir, input: writeCpio(ENTRIES) });
      assert.equal(extract.status, 0, extract.stderr.toString());
      assert.equal(readFileSync(join(dir, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
      assert.equal(lstatSync(join(dir, 'init')).mode & 0o7777, 0o755);
      assert.equal(readFileSync(join(dir, 'lib/modules/a.ko'), 'utf8'), 'odd length');
      assert.ok(lstatSync(join(dir, 'lib/modules')).isDirectory());
      assert.equal(lstatSync(join(dir, 'tmp')).mode & 0o7777, 0o1777);
      assert.equal(readlinkSync(join(dir, 'sbin')), 'lib');
    });
  });
});
