import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FILESYSTEM_MODULES, GUEST_MODULES } from '../../src/image/modules';
import { defaultRuntimeConfig } from '../../src/runtime/runtime-config';
import { sandboxPaths } from '../../src/runtime/sandbox-paths';
import { busyboxRootfs, makeBundle, Spec } from '../support/busybox-bundle';

/**
 * `runv run` for real: the built CLI, a real libvirtd, real QEMU VMs under TCG. Each test
 * boots its own VM (a few seconds each), and every test ends by proving nothing was left.
 */
const RUNV = path.join(__dirname, '../../bin/run.js');
const ROOT = '/run/runv-it';

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runv(args: string[], options: { input?: string | Buffer } = {}): Promise<Result> & { child: ChildProcess } {
  usedIds.add(args[args.length - 1]);
  const child = spawn(RUNV, ['--root', ROOT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d) => out.push(d));
  child.stderr!.on('data', (d) => err.push(d));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(options.input ?? '');
  const done = new Promise<Result>((resolve) =>
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })),
  );
  return Object.assign(done, { child });
}

const usedIds = new Set<string>();

/** This suite's domains (its ids all start with it-), so a benchmark running alongside is not counted. */
function virshDomains(): string[] {
  return execFileSync('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { encoding: 'utf8' }).split('\n').filter((n) => n.startsWith('runv-it-'));
}

function qemuProcesses(): string[] {
  const ps = spawnSync('pgrep', ['-af', 'guest=runv-it-'], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter(Boolean);
}

function assertNothingLeft(): void {
  assert.deepEqual(virshDomains(), [], 'no runv domain may remain');
  assert.deepEqual(qemuProcesses(), [], 'no QEMU process may remain');
  assert.deepEqual(fs.existsSync(ROOT) ? fs.readdirSync(ROOT) : [], [], 'no state directory may remain');
  const config = defaultRuntimeConfig({ root: ROOT });
  const sockets = [...usedIds].map((id) => sandboxPaths(config, id).agentSocket).filter((s) => fs.existsSync(s));
  assert.deepEqual(sockets, [], 'no agent socket may remain');
}

describe('runv run (real libvirt, real VM)', function () {
  this.timeout(120_000);
  let tmp: string;
  let rootfs: string;
  let n = 0;
  const bundle = (edit: (spec: Spec) => void): string => makeBundle(path.join(tmp, `b${++n}`), rootfs, edit);
  const args = (...a: string[]) => (spec: Spec) => void (spec.process!.args = a);

  before(function () {
    try {
      execFileSync('virsh', ['-c', 'qemu:///system', 'version'], { stdio: 'ignore' });
    } catch {
      throw new Error('libvirtd is not reachable: run scripts/setup.sh first');
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-it-'));
    rootfs = busyboxRootfs(tmp);
  });

  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  afterEach(assertNothingLeft);

  it('streams the output and passes exit code 42 through', async () => {
    const r = await runv(['run', '--bundle', bundle(args('sh', '-c', 'echo out; echo err >&2; exit 42')), 'it-exit']);
    assert.equal(r.status, 42, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  it('pipes stdin through cat and closes it at end of input', async () => {
    const input = Buffer.from(Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join(''));
    const r = await runv(['run', '--bundle', bundle(args('cat')), 'it-cat'], { input });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, input.toString());
  });

  it('applies env, cwd, uid, gid, additional groups and hostname, and writes reach the host rootfs', async () => {
    const b = bundle((spec) => {
      Object.assign(spec.process!, { args: ['sh', '-c', 'id; pwd; echo "$GREETING"; hostname; echo written > /tmp/from-vm-$$; echo $$'], cwd: '/tmp', env: ['GREETING=hello there', 'PATH=/bin'], user: { uid: 1000, gid: 1001, additionalGids: [10, 20] } });
      spec.hostname = 'it-host';
    });
    const r = await runv(['run', '--bundle', b, 'it-identity']);
    assert.equal(r.status, 0, r.stderr);
    const [id, cwd, greeting, hostname, pid] = r.stdout.trim().split('\n');
    assert.equal(id, 'uid=1000 gid=1001 groups=10,20');
    assert.deepEqual([cwd, greeting, hostname, pid], ['/tmp', 'hello there', 'it-host', '1']);
    const written = path.join(rootfs, 'tmp', 'from-vm-1');
    assert.equal(fs.readFileSync(written, 'utf8'), 'written\n');
    assert.deepEqual([fs.statSync(written).uid, fs.statSync(written).gid], [1000, 1001], 'ownership crosses the share');
    fs.rmSync(written);
  });

  it('keeps a read-only root read-only inside the container', async () => {
    const r = await runv(['run', '--bundle', bundle((spec) => {
      spec.root.readonly = true;
      spec.process!.args = ['sh', '-c', 'touch /should-fail 2>&1; echo status=$?'];
    }), 'it-ro']);
    assert.match(r.stdout, /Read-only file system/);
    assert.match(r.stdout, /status=1/);
    assert.equal(fs.existsSync(path.join(rootfs, 'should-fail')), false);
  });

  it('forwards SIGTERM to the container, whose handler decides the exit', async () => {
    const run = runv(['run', '--bundle', bundle(args('sh', '-c', 'trap "echo got TERM; exit 7" TERM; echo ready; while true; do sleep 0.1; done')), 'it-signal']);
    await waitForOutput(run.child, 'ready');
    run.child.kill('SIGTERM');
    const r = await run;
    assert.equal(r.status, 7, r.stderr);
    assert.equal(r.stdout, 'ready\ngot TERM\n');
  });

  it('is a container for the other commands while it runs: state, list, exec and kill reach it; it is deleted when it ends', async () => {
    const run = runv(['run', '--bundle', bundle(args('sh', '-c', 'echo ready; sleep 600')), 'it-visible']);
    await waitForOutput(run.child, 'ready');
    const state = JSON.parse((await runv(['state', 'it-visible'])).stdout) as { status: string; pid: number };
    assert.deepEqual([state.status, state.pid], ['running', run.child.pid], "runv run is the container's process, as runc run is");
    assert.match((await runv(['list', '-q'])).stdout, /^it-visible$/m);
    assert.equal((await runv(['exec', 'it-visible', 'sh', '-c', 'echo from exec'])).stdout, 'from exec\n');
    assert.equal((await runv(['kill', 'it-visible', 'KILL'])).status, 0);
    const r = await run;
    assert.equal(r.status, 137, r.stderr);
    assert.match((await runv(['state', 'it-visible'])).stderr, /does not exist/);
  });

  it('applies rlimits, and reports an init the kernel killed as 128+signal', async () => {
    const r = await runv(['run', '--bundle', bundle((spec) => {
      spec.process!.args = ['sh', '-c', 'ulimit -t; while :; do :; done'];
      spec.process!.rlimits = [{ type: 'RLIMIT_CPU', soft: 1, hard: 1 }];
    }), 'it-killed']);
    assert.equal(r.stdout, '1\n');
    assert.equal(r.status, 128 + 9, r.stderr);
  });

  it('breaks the container\'s output pipe when runv\'s reader goes away, like `| head -1`', async () => {
    const run = runv(['run', '--bundle', bundle(args('yes')), 'it-epipe']);
    await waitForOutput(run.child, 'y\n');
    run.child.stdout!.destroy();
    const r = await run;
    assert.equal(r.status, 1, `yes stops at its first failed write (stderr: ${r.stderr})`);
  });

  it('aborts the start on Ctrl-C while the VM boots, exits 130, and leaves nothing', async () => {
    const run = runv(['run', '--bundle', bundle(args('true')), 'it-abort']);
    await waitFor(() => virshDomains().includes('runv-it-abort'), 30_000);
    run.child.kill('SIGINT');
    const r = await run;
    assert.equal(r.status, 130, r.stderr);
    assert.match(r.stderr, /^runv: interrupted by SIGINT while starting the container\n$/);
  });

  it('gives an interactive shell a terminal with -t', async () => {
    const b = bundle(args('sh'));
    // script(1) gives runv a pty of its own, as a user's terminal would.
    usedIds.add('it-tty');
    const child = spawn('script', ['-qec', `stty rows 24 cols 81; ${RUNV} --root ${ROOT} run -t --bundle ${b} it-tty`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await waitForOutput(child, '#');
    child.stdin!.write('tty; echo "size=$(stty size)"; exit 3\r');
    const status = await new Promise((resolve) => child.on('close', resolve));
    assert.match(out, /\/dev\/pts\/\d+/);
    assert.match(out, /size=24 81/, 'the terminal size reaches the container');
    assert.equal(status, 3);
  });

  describe('bad input: one line on stderr, non-zero exit, nothing left behind', () => {
    const rejects = async (argv: string[], exit: number, message: RegExp): Promise<void> => {
      const r = await runv(argv);
      assert.equal(r.status, exit, `exit status (stderr: ${r.stderr})`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line, got: ${r.stderr}`);
      assert.equal(r.stdout, '');
    };

    it('a program that does not exist in the rootfs exits 127', () => rejects(['run', '--bundle', bundle(args('/no/such/program')), 'it-127'], 127, /^runv: exec \/no\/such\/program: No such file or directory/));

    it('a program that is not executable exits 126', () => {
      fs.writeFileSync(path.join(rootfs, 'not-executable'), 'data', { mode: 0o644 });
      return rejects(['run', '--bundle', bundle(args('/not-executable')), 'it-126'], 126, /Permission denied/);
    });

    it('a missing bundle', () => rejects(['run', '--bundle', path.join(tmp, 'nope'), 'it-bad'], 1, /bundle .*nope does not exist/));
    it('an invalid config.json names the field', () => {
      const b = bundle(args());
      return rejects(['run', '--bundle', b, 'it-bad'], 2, /config.json: process.args: must name a program/);
    });
    it('a rootfs that does not exist', () => rejects(['run', '--bundle', bundle((s) => (s.root.path = '/nonexistent-rootfs')), 'it-bad'], 1, /root.path: \/nonexistent-rootfs does not exist/));
    it('an invalid id', () => rejects(['run', '--bundle', bundle(args('true')), '../evil'], 2, /invalid container id/));
    it('no libvirtd', () => rejects(['run', '--libvirt-uri', 'qemu:///system?socket=/nonexistent/libvirt-sock', '--bundle', bundle(args('true')), 'it-bad'], 1, /cannot connect to libvirt/));
    it('no guest image', () => rejects(['run', '--images-dir', path.join(tmp, 'no-images'), '--bundle', bundle(args('true')), 'it-bad'], 1, /no guest image in .*no-images: run `runv image build`/));

    it('a guest that cannot come up: guest-init powers the VM off, runv quotes its console', async () => {
      // A kernel whose modules.builtin claims every module: the image gets none, so guest-init
      // never sees its virtio-serial port and gives up.
      const modules = path.join(tmp, 'no-modules');
      fs.mkdirSync(modules);
      fs.writeFileSync(path.join(modules, 'modules.dep'), '');
      const all = [...GUEST_MODULES, ...Object.values(FILESYSTEM_MODULES).flat()];
      fs.writeFileSync(path.join(modules, 'modules.builtin'), all.map((m) => `kernel/${m}.ko\n`).join(''));
      const images = path.join(tmp, 'broken-images');
      execFileSync(RUNV, ['image', 'build', '--images-dir', images, '--modules-dir', modules], { stdio: 'pipe' });
      await rejects(['run', '--images-dir', images, '--bundle', bundle(args('true')), 'it-fatal'], 1, /^runv: the VM stopped while booting; guest console: guest-init: .*fatal: no host channel; powering off$/m);
    });

    it('an id already in use', async () => {
      const first = runv(['run', '--bundle', bundle(args('sh', '-c', 'echo ready; sleep 30')), 'it-busy']);
      await waitForOutput(first.child, 'ready');
      await rejects(['run', '--bundle', bundle(args('true')), 'it-busy'], 1, /container id "it-busy" is already in use/);
      first.child.kill('SIGKILL');
      await first;
      await waitFor(() => virshDomains().length === 0, 30_000);
      // A killed runv leaves its state dir behind; the next run of that id reclaims it.
      const again = await runv(['run', '--bundle', bundle(args('true')), 'it-busy']);
      assert.equal(again.status, 0, again.stderr);
    });
  });
});

function waitForOutput(child: ChildProcess, text: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(text)} in output: ${seen}`)), timeoutMs);
    child.stdout!.on('data', (d) => {
      seen += d;
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}
