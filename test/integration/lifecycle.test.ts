import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultRuntimeConfig } from '../../src/runtime/runtime-config';
import { sandboxPaths } from '../../src/runtime/sandbox-paths';
import { OciHook } from '../../src/oci/spec';
import { busyboxRootfs, makeBundle, Spec } from '../support/busybox-bundle';
import { assertOneLineError, RUNV } from '../support/runv-cli';

/**
 * The runc-style lifecycle for real: the built CLI, its detached shim, a real libvirtd and QEMU.
 * The shim is waited for the way conmon and containerd's shims wait for it: by a subreaper
 * (test/support/subreaper.py), which records the exit status of every process runv leaves.
 */
const SUBREAPER = path.join(__dirname, '../support/subreaper.py');
const ROOT = '/run/runv-lc';

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runv(args: string[], input = ''): Promise<Result> {
  const child = spawn(RUNV, ['--root', ROOT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  return collect(child, input);
}

function collect(child: ReturnType<typeof spawn>, input: string): Promise<Result> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d) => out.push(d));
  child.stderr!.on('data', (d) => err.push(d));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(input);
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })));
}

/**
 * `runv create` under a subreaper: resolves once the container's whole life is over, with the
 * create's own result, what the container wrote (create's stdio is the container's), and the
 * exit status of each process left behind.
 */
function createUnderSubreaper(args: string[]): { done: Promise<Result & { reaped: Record<string, number> }> } {
  const report = path.join(work, `reaped-${Math.random().toString(16).slice(2)}.json`);
  const child = spawn('python3', [SUBREAPER, report, RUNV, '--root', ROOT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  return { done: collect(child, '').then((result) => ({ ...result, reaped: JSON.parse(fs.readFileSync(report, 'utf8')) as Record<string, number> })) };
}

/** `runv create` whose shim keeps create's stdio: wait for create's exit, not for its pipes to close. */
function createDetached(args: string[]): Promise<Result> {
  const errors = path.join(work, `create-${Math.random().toString(16).slice(2)}.err`);
  const fd = fs.openSync(errors, 'w');
  const child = spawn(RUNV, ['--root', ROOT, 'create', ...args], { stdio: ['ignore', 'ignore', fd] });
  fs.closeSync(fd);
  return new Promise((resolve) => child.on('exit', (status) => resolve({ status, stdout: '', stderr: fs.readFileSync(errors, 'utf8') })));
}

async function state(id: string): Promise<{ status: string; pid: number; bundle: string; id: string }> {
  const result = await runv(['state', id]);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

function runvDomains(): string[] {
  return execFileSync('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { encoding: 'utf8' }).split('\n').filter((n) => n.startsWith('runv-lc-'));
}

function assertNothingLeft(ids: string[]): void {
  assert.deepEqual(runvDomains(), [], 'no domain may remain');
  assert.deepEqual(fs.existsSync(ROOT) ? fs.readdirSync(ROOT) : [], [], 'no state directory may remain');
  const config = defaultRuntimeConfig({ root: ROOT });
  const sockets = ids.flatMap((id) => [sandboxPaths(config, id).agentSocket, sandboxPaths(config, id).shimSocket]).filter((s) => fs.existsSync(s));
  assert.deepEqual(sockets, [], 'no socket may remain');
}

let work: string;
let rootfs: string;

describe('runv lifecycle: create, start, state, kill, exec, ps, pause, delete (real VMs)', function () {
  this.timeout(180_000);
  const used: string[] = [];

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-lc-'));
    rootfs = busyboxRootfs(work);
  });

  afterEach(async () => {
    for (const id of used.splice(0)) await runv(['delete', '--force', id]);
  });

  after(() => fs.rmSync(work, { recursive: true, force: true }));

  let bundles = 0;
  function bundle(args: string[], edit: (spec: Spec) => void = () => undefined): string {
    return makeBundle(path.join(work, `bundle-${bundles++}`), rootfs, (spec) => {
      spec.process!.args = args;
      edit(spec);
    });
  }

  function id(name: string): string {
    const full = `lc-${name}`;
    used.push(full);
    return full;
  }

  it('creates without running the process; start runs it; the shim in the pid file exits with its status', async () => {
    const c = id('life');
    const pidFile = path.join(work, 'life.pid');
    const life = createUnderSubreaper(['create', '--bundle', bundle(['sh', '-c', 'echo ran; exit 7']), '--pid-file', pidFile, c]);
    await waitForPidFile(pidFile);
    const created = await state(c);
    assert.equal(created.status, 'created');
    assert.equal(created.pid, Number(fs.readFileSync(pidFile, 'utf8')));
    assert.equal((await runv(['start', c])).status, 0);
    const result = await life.done;
    assert.equal(result.stdout, 'ran\n', 'the container wrote to the stdout create was given');
    assert.equal(result.reaped[String(created.pid)], 7, 'the shim exits with the container init status');
    const stopped = await state(c);
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.pid, 0);
    assert.equal((await runv(['delete', c])).status, 0);
    assertNothingLeft([c]);
  });

  it('kills by name or number, reports 128+N, and refuses an invalid signal with state unchanged', async () => {
    const c = id('kill');
    const pidFile = path.join(work, 'kill.pid');
    const life = createUnderSubreaper(['create', '--bundle', bundle(['sleep', '600']), '--pid-file', pidFile, c]);
    await waitForPidFile(pidFile);
    assert.equal((await runv(['start', c])).status, 0);
    assertOneLineError(await runv(['kill', c, 'SIGNOPE']), /invalid signal "SIGNOPE"/);
    assert.equal((await state(c)).status, 'running');
    assert.equal((await runv(['kill', c, 'KILL'])).status, 0);
    const result = await life.done;
    assert.equal(result.reaped[fs.readFileSync(pidFile, 'utf8')], 137);
    assertOneLineError(await runv(['kill', c, '9']), /it is stopped/);
  });

  it('execs into a running container: output, stdin, exit status, and a detached exec whose pid exits with the status', async () => {
    const c = id('exec');
    const pidFile = path.join(work, 'exec.pid');
    createUnderSubreaper(['create', '--bundle', bundle(['sleep', '600']), '--pid-file', pidFile, c]);
    await waitForPidFile(pidFile);
    await runv(['start', c]);
    const exec = await runv(['exec', c, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([exec.status, exec.stdout, exec.stderr], [3, 'out\n', 'err\n']);
    assert.equal((await runv(['exec', c, 'cat'], 'piped\n')).stdout, 'piped\n');
    const processJson = path.join(work, 'process.json');
    fs.writeFileSync(processJson, JSON.stringify({ args: ['sh', '-c', 'sleep 1; exit 5'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }));
    const execPid = path.join(work, 'exec-d.pid');
    const detached = createUnderSubreaper(['exec', '--process', processJson, '--detach', '--pid-file', execPid, c]);
    const result = await detached.done;
    assert.equal(result.status, 0);
    assert.equal(result.reaped[fs.readFileSync(execPid, 'utf8')], 5, 'the exec relay exits with the process status');
  });

  it('lists the processes (guest pids in the table, host pids in JSON), and pauses the whole VM', async () => {
    const c = id('ps');
    const pidFile = path.join(work, 'ps.pid');
    createUnderSubreaper(['create', '--bundle', bundle(['sh', '-c', 'sleep 600 & wait']), '--pid-file', pidFile, c]);
    await waitForPidFile(pidFile);
    await runv(['start', c]);
    const ps = await runv(['ps', '--format', 'json', c]);
    assert.deepEqual(JSON.parse(ps.stdout), [Number(fs.readFileSync(pidFile, 'utf8'))], 'JSON: the host pid standing for the init, the shim');
    const table = (await runv(['ps', c])).stdout.split('\n').slice(1).filter(Boolean).map((line) => line.trim().split(/\s+/));
    assert.deepEqual(table.map(([, pid, ppid, ...cmd]) => [pid, ppid, cmd.join(' ')]), [['1', '0', 'sh -c sleep 600 & wait'], ['2', '1', 'sleep 600']], 'the table: guest pids');
    assert.equal((await runv(['pause', c])).status, 0);
    assert.equal((await state(c)).status, 'paused');
    assert.equal(execFileSync('virsh', ['-c', 'qemu:///system', 'domstate', `runv-${c}`], { encoding: 'utf8' }).trim(), 'paused');
    assertOneLineError(await runv(['pause', c]), /it is paused/);
    assert.equal((await runv(['resume', c])).status, 0);
    assert.equal((await state(c)).status, 'running');
    const list = JSON.parse((await runv(['list', '--format', 'json'])).stdout) as { id: string; status: string }[];
    assert.deepEqual(list.map((s) => [s.id, s.status]), [[c, 'running']]);
  });

  it('refuses to delete a running container without --force; with it, nothing is left', async () => {
    const c = id('delete');
    const pidFile = path.join(work, 'delete.pid');
    createUnderSubreaper(['create', '--bundle', bundle(['sleep', '600']), '--pid-file', pidFile, c]);
    await waitForPidFile(pidFile);
    await runv(['start', c]);
    assertOneLineError(await runv(['delete', c]), /not stopped: it is running/);
    assertOneLineError(await runv(['start', c]), /cannot start .* it is running/);
    assert.equal((await state(c)).status, 'running');
    assert.equal((await runv(['delete', '--force', c])).status, 0);
    assertNothingLeft([c]);
  });

  it('runs the hooks of each step with the state: on the host, and startContainer inside the container', async () => {
    const c = id('hooks');
    const marks = fs.mkdtempSync(path.join(work, 'hooks-'));
    const record = (kind: string): OciHook => ({ path: '/bin/sh', args: ['sh', '-c', `cat > ${marks}/${kind}`] });
    const b = bundle(['sleep', '600'], (spec) => {
      spec.hostname = 'hooked';
      spec.hooks = {
        prestart: [record('prestart')],
        createRuntime: [record('createRuntime')],
        createContainer: [record('createContainer')],
        startContainer: [{ path: '/bin/sh', args: ['sh', '-c', `{ cat; echo; hostname; } > /tmp/${c}`] }],
        poststart: [record('poststart'), { path: '/bin/false' }],
        poststop: [record('poststop')],
      };
    });
    const stateOf = (kind: string): { status: string; pid: number; id: string } => JSON.parse(fs.readFileSync(path.join(marks, kind), 'utf8'));
    const pidFile = path.join(work, 'hooks.pid');
    createUnderSubreaper(['create', '--bundle', b, '--pid-file', pidFile, c]);
    await waitForPidFile(pidFile);
    const shimPid = Number(fs.readFileSync(pidFile, 'utf8'));
    for (const kind of ['prestart', 'createRuntime', 'createContainer']) assert.deepEqual(pick(stateOf(kind)), { id: c, status: 'creating', pid: shimPid }, kind);
    assert.deepEqual(fs.readdirSync(marks).sort(), ['createContainer', 'createRuntime', 'prestart'], 'no later hook ran at create');
    const start = await runv(['start', c]);
    assert.equal(start.status, 0, start.stderr);
    assert.equal(start.stderr, 'runv: warning: poststart hook /bin/false exited with status 1\n', 'a failed poststart hook is a warning');
    const [startState, hostname] = fs.readFileSync(path.join(rootfs, 'tmp', c), 'utf8').split('\n');
    assert.deepEqual(pick(JSON.parse(startState)), { id: c, status: 'created', pid: shimPid });
    assert.equal(hostname, 'hooked', "startContainer ran in the container's namespaces, inside the VM");
    assert.deepEqual(pick(stateOf('poststart')), { id: c, status: 'running', pid: shimPid });
    assert.ok(!fs.existsSync(path.join(marks, 'poststop')));
    assert.equal((await runv(['delete', '--force', c])).status, 0);
    assert.deepEqual(pick(stateOf('poststop')), { id: c, status: 'stopped', pid: 0 });
  });

  it('fails create on a failed createRuntime hook and start on a failed startContainer hook, leaving nothing', async () => {
    const marks = fs.mkdtempSync(path.join(work, 'failing-hooks-'));
    const poststop = { path: '/bin/sh', args: ['sh', '-c', `touch ${marks}/poststop`] };
    const failingCreate = bundle(['true'], (spec) => (spec.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'echo no GPU here >&2; exit 3'] }], poststop: [poststop] }));
    assertOneLineError(await createDetached(['--bundle', failingCreate, id('createhook')]), /^runv: createRuntime hook \/bin\/sh exited with status 3: no GPU here$/m);
    assert.ok(fs.existsSync(path.join(marks, 'poststop')), 'a failed create goes on as a delete: poststop runs');
    const c = id('starthook');
    const failingStart = bundle(['touch', '/tmp/program-ran'], (spec) => (spec.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 4'] }] }));
    const pidFile = path.join(work, 'starthook.pid');
    const life = createUnderSubreaper(['create', '--bundle', failingStart, '--pid-file', pidFile, c]);
    await waitForPidFile(pidFile);
    assertOneLineError(await runv(['start', c]), /^runv: startContainer hook \/bin\/sh exited with status 4$/m);
    await life.done;
    assert.equal((await state(c)).status, 'stopped');
    assert.ok(!fs.existsSync(path.join(rootfs, 'tmp', 'program-ran')), 'the program did not run');
    assert.equal((await runv(['delete', c])).status, 0);
    assertNothingLeft(['lc-createhook', c]);
  });

  it('limits the container by its cgroup in the guest: spec limits at create, update changes them, events reports use and OOM kills', async () => {
    const c = id('limits');
    const b = bundle(['sh', '-c', 'sleep 600 & wait'], (spec) => (spec.linux = { resources: { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 40 } } as never }));
    const pidFile = path.join(work, 'limits.pid');
    createUnderSubreaper(['create', '--bundle', b, '--pid-file', pidFile, c]);
    await waitForPidFile(pidFile);
    await runv(['start', c]);
    const stats = JSON.parse((await runv(['events', '--stats', c])).stdout).data;
    assert.equal(stats.memory.usage.limit, 64 * 1024 * 1024, "the spec's memory limit is the container's, inside a larger VM");
    assert.equal(stats.pids.current, 2);
    const update = (resources: object): Promise<Result> => runv(['update', '--resources', '-', c], JSON.stringify(resources));
    assert.equal((await update({ pids: { limit: 4 } })).status, 0);
    const forks = await runv(['exec', c, 'sh', '-c', 'for i in 1 2 3 4; do sleep 1 & done; wait']);
    assert.match(forks.stderr, /can't fork/, 'the new pids limit holds');
    assertOneLineError(await update({ memory: { limit: 4 * 1024 * 1024 * 1024 } }), /memory.limit: 4096 MiB is more than the 128 MiB the VM booted with/);
    assertOneLineError(await update({ cpu: { cpus: '0-3' }, blockIO: { weight: 10 } }), /cannot update linux.resources.cpu.cpus, linux.resources.blockIO:/);
    assert.equal((await update({ memory: { limit: 16 * 1024 * 1024 }, pids: { limit: -1 }, cpu: { shares: 512, quota: 50000, period: 100000 } })).status, 0);
    assert.equal(JSON.parse((await runv(['events', '--stats', c])).stdout).data.memory.usage.limit, 16 * 1024 * 1024);
    const events = spawn(RUNV, ['--root', ROOT, 'events', '--interval', '60s', c], { stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = '';
    events.stdout!.on('data', (d) => (lines += d));
    events.stderr!.on('data', (d) => (lines += d));
    try {
      await until(() => lines.includes('"stats"'), () => 'the first stats line');
      const hog = await runv(['exec', c, 'sh', '-c', 'x=$(head -c 40000000 /dev/zero | tr "\\0" a)']);
      assert.equal(hog.status, 137, 'the kernel in the VM killed the process that went over 16 MiB');
      await until(() => lines.includes('"oom"'), () => `an oom event (events said: ${lines})`);
      assert.deepEqual(JSON.parse(lines.split('\n').find((l) => l.includes('"oom"'))!), { type: 'oom', id: c });
    } finally {
      events.kill();
    }
  });

  it('answers bad input with one line, a non-zero exit, and nothing created', async () => {
    for (const command of ['start', 'state', 'kill', 'delete', 'pause', 'resume', 'ps', 'exec']) {
      assertOneLineError(await runv(command === 'exec' ? [command, 'lc-missing', 'true'] : [command, 'lc-missing']), /container "lc-missing" does not exist/);
    }
    const b = bundle(['true']);
    assertOneLineError(await runv(['create', '--bundle', b, '--pid-file', '/nonexistent/dir/pid', id('pidfile')]), /--pid-file .*cannot write/);
    const tty = bundle(['true'], (spec) => (spec.process!.terminal = true));
    assertOneLineError(await runv(['create', '--bundle', tty, '--console-socket', path.join(work, 'nobody.sock'), id('console')]), /console socket .*nobody\.sock/);
    assertOneLineError(await runv(['create', '--bundle', tty, id('noconsole')]), /--console-socket is needed/);
    const missing = await runv(['create', '--bundle', bundle(['nosuch-program']), id('missing')]);
    assertOneLineError(missing, /"nosuch-program": executable file not found in \$PATH/);
    assert.equal(missing.status, 127, 'callers map this wording and status to 127 at create, as with runc');
    assert.equal((await runv(['delete', '--force', 'lc-never-created'])).status, 0, 'delete --force of what does not exist succeeds, as in runc');
    assertNothingLeft(['lc-pidfile', 'lc-console', 'lc-noconsole', 'lc-missing']);
  });

  it('refuses a malformed exec process and an exec into a container that is not running', async () => {
    const c = id('badexec');
    const pidFile = path.join(work, 'badexec.pid');
    createUnderSubreaper(['create', '--bundle', bundle(['sleep', '600']), '--pid-file', pidFile, c]);
    await waitForPidFile(pidFile);
    assertOneLineError(await runv(['exec', c, 'true']), /cannot exec in container .* it is created/);
    await runv(['start', c]);
    const bad = path.join(work, 'bad-process.json');
    fs.writeFileSync(bad, JSON.stringify({ args: [], cwd: '/', user: { uid: 0, gid: 0 } }));
    assertOneLineError(await runv(['exec', '--process', bad, c]), /process.args: must name a program/);
    assertOneLineError(await runv(['exec', c, '/no/such/program']), /no\/such\/program/);
    assert.equal((await state(c)).status, 'running');
  });

  it('lets exactly one of five parallel creates of one id succeed, and all of ten distinct ids', async () => {
    const b = bundle(['sleep', '600']);
    const same = id('same');
    const results = await Promise.all(Array.from({ length: 5 }, () => createDetached(['--bundle', b, same])));
    assert.equal(results.filter((r) => r.status === 0).length, 1, results.map((r) => r.stderr).join(''));
    for (const failed of results.filter((r) => r.status !== 0)) assert.match(failed.stderr, /already (exists|in use)/);
    const ids = Array.from({ length: 10 }, (_, i) => id(`many${i}`));
    const many = await Promise.all(ids.map((c) => createDetached(['--bundle', b, c])));
    assert.deepEqual(many.map((r) => r.status), ids.map(() => 0), many.map((r) => r.stderr).join(''));
    for (const c of ids) assert.equal((await state(c)).status, 'created');
  });
});

function pick(state: { id: string; status: string; pid: number }): { id: string; status: string; pid: number } {
  return { id: state.id, status: state.status, pid: state.pid };
}

/** Waits up to 30 s: a loaded host (other VMs under TCG) slows the guest down a lot. */
async function until(check: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(check(), `${what()} never came`);
}

async function waitForPidFile(file: string): Promise<void> {
  for (let i = 0; i < 600 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(fs.existsSync(file), `${file} was never written`);
}
