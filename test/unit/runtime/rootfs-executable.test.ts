import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunvError } from '../../../src/core/errors';
import { checkExecutable } from '../../../src/runtime/rootfs-executable';
import { processModel } from '../../support/process-model';

describe('the program of a container process, looked up in its rootfs at create', () => {
  let rootfs: string;

  before(() => {
    rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-exe-'));
    fs.mkdirSync(path.join(rootfs, 'bin'));
    fs.mkdirSync(path.join(rootfs, 'opt'));
    fs.writeFileSync(path.join(rootfs, 'bin', 'busybox'), '', { mode: 0o755 });
    fs.writeFileSync(path.join(rootfs, 'opt', 'data'), '', { mode: 0o644 });
    // An absolute link means the rootfs's /bin/busybox, not the host's.
    fs.symlinkSync('/bin/busybox', path.join(rootfs, 'bin', 'sh'));
    fs.symlinkSync('/nowhere/x', path.join(rootfs, 'bin', 'dangling'));
  });

  after(() => fs.rmSync(rootfs, { recursive: true, force: true }));

  const check = (args: string[], env = ['PATH=/bin']) => () => checkExecutable(rootfs, processModel({ processId: 'init', args, env, cwd: '/' }));
  const fails = (code: string, exitCode: number, message: RegExp) => (error: unknown) =>
    error instanceof RunvError && error.code === code && error.exitCode === exitCode && message.test(error.message);

  it('finds a program on the PATH through a symlink that stays inside the rootfs', () => {
    assert.doesNotThrow(check(['sh']));
    assert.doesNotThrow(check(['/bin/sh']));
  });
  it("says a name not on the PATH is not found, with runc's words (exit 127)", () => {
    assert.throws(check(['nosuch']), fails('process-not-found', 127, /"nosuch": executable file not found in \$PATH/));
    assert.throws(check(['sh'], ['PATH=/usr/bin']), fails('process-not-found', 127, /executable file not found/));
  });
  it('says a missing path or a dangling link is no such file (exit 127)', () => {
    assert.throws(check(['/bin/nosuch']), fails('process-not-found', 127, /no such file or directory/));
    assert.throws(check(['/bin/dangling']), fails('process-not-found', 127, /no such file or directory/));
  });
  it('says a file without execute permission or a directory is denied (exit 126)', () => {
    assert.throws(check(['/opt/data']), fails('process-not-executable', 126, /"\/opt\/data": permission denied/));
    assert.throws(check(['/opt']), fails('process-not-executable', 126, /permission denied/));
  });
});
