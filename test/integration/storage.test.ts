import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StorageDriverName } from '../../src/core/model';
import { defaultRuntimeConfig } from '../../src/runtime/runtime-config';
import { sandboxPaths } from '../../src/runtime/sandbox-paths';
import { mountPointsUnder } from '../../src/storage/host-mounts';
import { busyboxRootfs, makeBundle, Spec } from '../support/busybox-bundle';
import { assertOneLineError, createWith, RUNV, runvWith } from '../support/runv-cli';

/**
 * The three storage drivers for real (built CLI, libvirtd, QEMU under TCG), one test body each:
 * POSIX semantics run inside the VM and checked from the host, bind mounts, root.readonly,
 * maskedPaths/readonlyPaths, bad input, and that nothing is left behind (domain, state, share
 * directory, host mount, virtiofsd). Its own --root, images dir and `st-` ids.
 */
const ROOT = '/run/runv-st';
const IMAGES = '/var/lib/runv/images-st';
const DRIVERS: StorageDriverName[] = ['9p', 'virtiofs', 'block'];
const config = defaultRuntimeConfig({ root: ROOT });
const GIB = 2 ** 30;

const runv = runvWith(['--root', ROOT, '--images-dir', IMAGES]);
const create = createWith(['--root', ROOT, '--images-dir', IMAGES]);

const usedIds = new Set<string>();

function assertNothingLeft(): void {
  const domains = execFileSync('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { encoding: 'utf8' }).split('\n').filter((n) => n.startsWith('runv-st-'));
  assert.deepEqual(domains, [], 'no domain may remain');
  assert.deepEqual(fs.existsSync(ROOT) ? fs.readdirSync(ROOT) : [], [], 'no state directory may remain');
  for (const id of usedIds) {
    const shareDir = sandboxPaths(config, id).shareDir;
    assert.equal(fs.existsSync(shareDir), false, `share directory ${shareDir} must be gone`);
    assert.deepEqual(mountPointsUnder(shareDir), [], 'no host mount may remain');
  }
  const virtiofsd = spawnSync('pgrep', ['-af', 'virtiofsd'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(work) || l.includes(config.shareDir));
  assert.deepEqual(virtiofsd, [], 'no virtiofsd of ours may remain');
}

let work: string;
let rootfs: string;
let qcow2: string;

/** The block driver's rootfs: the same busybox tree in an ext4 filesystem, in a qcow2 image. */
function makeQcow2(tree: string): string {
  const raw = path.join(work, 'rootfs.raw');
  fs.closeSync(fs.openSync(raw, 'w'));
  fs.truncateSync(raw, 256 * 2 ** 20);
  execFileSync('mkfs.ext4', ['-q', '-d', tree, raw]);
  const image = path.join(work, 'rootfs.qcow2');
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, image]);
  fs.rmSync(raw);
  return image;
}

/** A raw xfs image holding `tree` (mkfs.xfs cannot populate one: it is filled through a loop mount). */
function makeXfsImage(tree: string): string {
  const image = path.join(work, 'rootfs.xfs');
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, 320 * 2 ** 20);
  execFileSync('mkfs.xfs', ['-q', image]);
  withMounted(image, (dir) => execFileSync('cp', ['-a', `${tree}/.`, dir]));
  return image;
}

function withMounted(image: string, use: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(work, 'mnt-'));
  execFileSync('mount', ['-o', 'loop', image, dir]);
  try {
    use(dir);
  } finally {
    execFileSync('umount', [dir]);
    fs.rmdirSync(dir);
  }
}

function bundleFor(driver: StorageDriverName, id: string, script: string, edit: (spec: Spec) => void = () => undefined): string {
  usedIds.add(id);
  return makeBundle(path.join(work, id), rootfs, (spec) => {
    spec.process!.args = ['sh', '-c', script];
    spec.annotations = { 'io.runv.storage': driver };
    if (driver === 'block') spec.root = { path: qcow2, readonly: false };
    edit(spec);
  });
}

/**
 * POSIX behaviour of one directory, as the container sees it: one line per check, `ok NAME` or
 * `FAIL NAME`. What only the host can tell (ownership, sparse blocks) is checked there after.
 */
function semantics(dir: string): string {
  const check = (name: string, command: string): string => `if ${command}; then echo "ok ${name}"; else echo "FAIL ${name}"; fi`;
  return [
    `cd ${dir}`,
    check('write+fsync', 'echo durable > written && sync written'),
    check('chown+chmod', 'touch owned && chown 1234:5678 owned && chmod 0640 owned && [ "$(stat -c %u:%g:%a owned)" = 1234:5678:640 ]'),
    check('symlink', 'ln -s target link && [ "$(readlink link)" = target ]'),
    check('hardlink', 'echo h > h1 && ln h1 h2 && [ "$(stat -c %h h1)" = 2 ] && [ "$(stat -c %i h1)" = "$(stat -c %i h2)" ]'),
    check('rename-over', 'echo old > r1 && echo new > r2 && mv r2 r1 && [ "$(cat r1)" = new ] && [ ! -e r2 ]'),
    check('sparse>4GiB', `dd if=/dev/zero of=big bs=1 count=0 seek=${5 * GIB} 2>/dev/null && printf end >> big && [ "$(stat -c %s big)" = ${5 * GIB + 3} ] && [ "$(tail -c 3 big)" = end ]`),
    check('mkdir+rmdir', 'mkdir -p d/e && rmdir d/e d'),
    ...PROBES.map((probe) => `echo "${probe}: $(posix-probe ${probe} ${probe}-probed)"`),
  ].join('\n');
}

/** Checks busybox has no tool for, by test/support/posix-probe.c, compared with the host's own result. */
const PROBES = ['mmap', 'xattr'];
const POSIX_PROBE_SOURCE = path.join(__dirname, '../support/posix-probe.c');
let expected: string[];

function buildPosixProbe(binary: string): void {
  execFileSync('gcc', ['-static', '-O2', '-D_GNU_SOURCE', '-o', binary, POSIX_PROBE_SOURCE]);
}

/** What the checks print in a directory of the host's own filesystem. */
function hostExpectations(probe: string, dir: string): string[] {
  const checks = ['write+fsync', 'chown+chmod', 'symlink', 'hardlink', 'rename-over', 'sparse>4GiB', 'mkdir+rmdir'].map((n) => `ok ${n}`);
  return [...checks, ...PROBES.map((p) => `${p}: ${execFileSync(probe, [p, path.join(dir, `${p}-probed`)], { encoding: 'utf8' }).trim()}`)];
}

/** What the host sees of a directory the container ran `semantics` in. */
function assertHostSees(dir: string): void {
  assert.equal(fs.readFileSync(path.join(dir, 'written'), 'utf8'), 'durable\n');
  const owned = fs.statSync(path.join(dir, 'owned'));
  assert.deepEqual([owned.uid, owned.gid, owned.mode & 0o777], [1234, 5678, 0o640]);
  assert.equal(fs.readlinkSync(path.join(dir, 'link')), 'target');
  assert.equal(fs.statSync(path.join(dir, 'h1')).ino, fs.statSync(path.join(dir, 'h2')).ino);
  assert.equal(fs.readFileSync(path.join(dir, 'r1'), 'utf8'), 'new\n');
  const big = fs.statSync(path.join(dir, 'big'));
  assert.equal(big.size, 5 * GIB + 3);
  assert.ok(big.blocks * 512 < 2 ** 20, `still sparse on the host: ${big.blocks} blocks`);
  assert.equal(fs.readFileSync(path.join(dir, 'mmap-probed')).subarray(4096, 4102).toString(), 'mapped', 'written through a shared mapping');
  const xattr = execFileSync('python3', ['-c', 'import os, sys; print(os.getxattr(sys.argv[1], "user.runv").decode())', path.join(dir, 'xattr-probed')], { encoding: 'utf8' });
  assert.equal(xattr.trim(), 'v1');
}

describe('storage drivers (real libvirt, real VMs)', function () {
  this.timeout(180_000);

  before(function () {
    this.timeout(600_000);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-st-'));
    rootfs = busyboxRootfs(work);
    // A symlink whose target climbs out of the root, in every driver's rootfs.
    fs.symlinkSync('../../../..', path.join(rootfs, 'escape'));
    fs.mkdirSync(path.join(rootfs, 'locked'));
    fs.writeFileSync(path.join(rootfs, 'secret'), 'hidden\n');
    buildPosixProbe(path.join(rootfs, 'bin', 'posix-probe'));
    const hostDir = fs.mkdtempSync(path.join(work, 'host-'));
    expected = hostExpectations(path.join(rootfs, 'bin', 'posix-probe'), hostDir);
    qcow2 = makeQcow2(rootfs);
    execFileSync(RUNV, ['image', 'build', '--images-dir', IMAGES], { stdio: 'pipe' });
  });

  after(() => fs.rmSync(work, { recursive: true, force: true }));
  afterEach(() => assertNothingLeft());

  for (const driver of DRIVERS) {
    describe(`driver ${driver}`, () => {
      let host: string;

      beforeEach(() => {
        host = fs.mkdtempSync(path.join(work, `data-${driver}-`));
        for (const d of ['rw', 'rw/nested', 'ro', 'sub']) fs.mkdirSync(path.join(host, d));
        fs.writeFileSync(path.join(host, 'ro', 'kept'), 'kept\n');
        fs.writeFileSync(path.join(host, 'sub', 'inner'), 'inner\n');
        fs.writeFileSync(path.join(host, 'conf'), 'conf\n');
      });

      const binds = (spec: Spec): void => {
        spec.mounts!.push(
          { destination: '/data', type: 'bind', source: path.join(host, 'rw'), options: ['rbind', 'rw'] },
          { destination: '/data/nested', type: 'bind', source: path.join(host, 'sub'), options: ['bind', 'ro'] },
          { destination: '/etc/app.conf', type: 'bind', source: path.join(host, 'conf'), options: ['bind', 'ro'] },
          { destination: '/ro', type: 'bind', source: path.join(host, 'ro'), options: ['bind', 'ro'] },
        );
      };

      it('keeps POSIX semantics on the rootfs and on a rw bind mount, and the host sees the writes at exit', async () => {
        const id = `st-posix-${driver}`;
        const script = `mkdir -p /st-${driver} && (${semantics(`/st-${driver}`)}) && echo --- && (${semantics('/data')})`;
        const result = await runv(['run', '--bundle', bundleFor(driver, id, script, binds), id]);
        assert.equal(result.status, 0, result.stderr);
        const [onRoot, onBind] = result.stdout.trim().split('\n---\n').map((part) => part.split('\n'));
        assert.deepEqual(onRoot, expected, 'rootfs');
        assert.deepEqual(onBind, expected, 'bind mount');
        assertHostSees(path.join(host, 'rw'));
        // A block rootfs keeps its writes in its image; the shared ones are the host's directory.
        if (driver !== 'block') assertHostSees(path.join(rootfs, `st-${driver}`));
      });

      it('binds host files and directories, nested, ro ones refusing writes with EROFS', async () => {
        const id = `st-binds-${driver}`;
        const script = 'cat /data/nested/inner /etc/app.conf /ro/kept; echo x > /ro/new; echo x > /etc/app.conf; echo x > /data/nested/new; ls /data';
        const result = await runv(['run', '--bundle', bundleFor(driver, id, script, binds), id]);
        assert.equal(result.stdout, 'inner\nconf\nkept\nnested\n');
        assert.equal(result.stderr.match(/Read-only file system/g)?.length, 3, result.stderr);
        assert.deepEqual([fs.existsSync(path.join(host, 'ro', 'new')), fs.readFileSync(path.join(host, 'conf'), 'utf8')], [false, 'conf\n']);
      });

      it('honours root.readonly, maskedPaths and readonlyPaths', async () => {
        const id = `st-ro-${driver}`;
        const script = 'touch /new-file 2>&1; cat /secret; touch /locked/x 2>&1; echo rw > /data/w && cat /data/w';
        const result = await runv(['run', '--bundle', bundleFor(driver, id, script, (spec) => {
          binds(spec);
          spec.root.readonly = true;
          spec.linux = { ...spec.linux, maskedPaths: ['/secret'], readonlyPaths: ['/locked'] };
        }), id]);
        assert.equal(result.stdout.match(/Read-only file system/g)?.length, 2, result.stdout);
        assert.doesNotMatch(result.stdout, /hidden/);
        assert.match(result.stdout, /^rw$/m, 'a rw bind stays writable under a read-only root');
      });

      it('cleans up after a shim that was killed: delete removes the domain, the mounts and the share', async () => {
        const id = `st-killed-${driver}`;
        const created = await create(['--bundle', bundleFor(driver, id, 'sleep 600', binds), id]);
        assert.equal(created.status, 0, created.stderr);
        assert.notDeepEqual(mountPointsUnder(sandboxPaths(config, id).shareDir), [], 'the binds are mounted while it lives');
        const { pid } = JSON.parse((await runv(['state', id])).stdout) as { pid: number };
        process.kill(pid, 'SIGKILL');
        const deleted = await runv(['delete', '--force', id]);
        assert.equal(deleted.status, 0, deleted.stderr);
      });

      describe('bad input: one line, non-zero exit, nothing left', () => {
        it('a bind source that does not exist', async () => {
          const id = `st-nosrc-${driver}`;
          const missing = path.join(work, 'no-such-dir');
          const result = await runv(['run', '--bundle', bundleFor(driver, id, 'true', (s) => s.mounts!.push({ destination: '/m', type: 'bind', source: missing })), id]);
          assertOneLineError(result, new RegExp(`source ${missing} of /m does not exist`));
        });

        it('a destination that climbs out of the root with ..', async () => {
          const id = `st-dotdot-${driver}`;
          const result = await runv(['run', '--bundle', bundleFor(driver, id, 'true', (s) => s.mounts!.push({ destination: '/a/../../etc', type: 'tmpfs' })), id]);
          assertOneLineError(result, /mounts\[\d+\]\.destination: \/a\/\.\.\/\.\.\/etc leaves the container root/);
        });

        it('a destination that climbs out of the root through a symlink', async () => {
          const id = `st-symlink-${driver}`;
          const result = await runv(['run', '--bundle', bundleFor(driver, id, 'true', (s) => s.mounts!.push({ destination: '/escape/etc', type: 'bind', source: path.join(host, 'sub') })), id]);
          assertOneLineError(result, /mount destination \/escape\/etc leaves the container root through a symlink/);
        });

        it('an unsupported mount type', async () => {
          const id = `st-type-${driver}`;
          const result = await runv(['run', '--bundle', bundleFor(driver, id, 'true', (s) => s.mounts!.push({ destination: '/n', type: 'nfs', source: 'srv:/x' })), id]);
          assertOneLineError(result, /mounts\[\d+\]\.type: "nfs" is not supported/);
        });
      });
    });
  }

  it("binds a source with a submount of its own (shared, as under systemd): read-only all through, and the host's submount outlives delete", async () => {
    const id = 'st-submount-9p';
    const source = fs.mkdtempSync(path.join(work, 'sub-source-'));
    const inner = path.join(source, 'inner');
    fs.mkdirSync(inner);
    execFileSync('mount', ['--bind', source, source]);
    execFileSync('mount', ['--make-shared', source]);
    execFileSync('mount', ['-t', 'tmpfs', 'submount', inner]);
    fs.writeFileSync(path.join(inner, 'seen'), 'from the submount\n');
    try {
      const bundle = bundleFor('9p', id, 'cat /src/inner/seen; touch /src/inner/x 2>&1; true', (spec) => {
        spec.mounts!.push({ destination: '/src', type: 'bind', source, options: ['rbind', 'ro'] });
      });
      const result = await runv(['run', '--bundle', bundle, id]);
      assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /^from the submount\ntouch: \/src\/inner\/x: Read-only file system\n$/);
      assert.ok(mountPointsUnder(source).includes(inner), "the host's submount is still mounted");
    } finally {
      execFileSync('umount', ['-R', source]);
    }
  });

  it('block: an xfs image is a rootfs too, and keeps what the container wrote', async () => {
    const id = 'st-xfs-block';
    const image = makeXfsImage(rootfs);
    const result = await runv(['run', '--bundle', bundleFor('block', id, 'stat -f -c %T / && echo kept > /xfs-written', (s) => (s.root = { path: image })), id]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'xfs\n');
    withMounted(image, (dir) => assert.equal(fs.readFileSync(path.join(dir, 'xfs-written'), 'utf8'), 'kept\n'));
  });

  it('block: a disk image that holds no filesystem fails before boot', async () => {
    const id = 'st-nofs-block';
    const empty = path.join(work, 'empty.img');
    fs.writeFileSync(empty, Buffer.alloc(2 ** 20));
    const result = await runv(['run', '--bundle', bundleFor('block', id, 'true', (s) => (s.root = { path: empty })), id]);
    assertOneLineError(result, /root\.path: .*empty\.img \(raw\) holds no ext4 or xfs filesystem/);
  });

  it('takes the default driver from the runtime config file, and the annotation over it', async () => {
    const file = path.join(work, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ storage: { driver: 'virtiofs' } }));
    const id = 'st-config';
    const bundle = bundleFor('9p', id, 'true', (s) => delete s.annotations);
    const xml = await runv(['domain-xml', '--config', file, '--bundle', bundle, id]);
    assert.match(xml.stdout, /<driver type="virtiofs"\/>/);
    fs.writeFileSync(path.join(bundle, 'config.json'), fs.readFileSync(path.join(bundle, 'config.json'), 'utf8').replace('"root"', '"annotations": {"io.runv.storage": "9p"}, "root"'));
    const overridden = await runv(['domain-xml', '--config', file, '--bundle', bundle, id]);
    assert.doesNotMatch(overridden.stdout, /virtiofs/);
  });
});
