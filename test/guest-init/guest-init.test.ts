import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { constants } from 'node:os';
import * as path from 'node:path';
import { AgentError, GuestProcess } from '../../src/agent/agent-client';
import { Attribute, attr, encodeFrame } from '../../src/agent/codec';
import { Hook } from '../../src/core/model';
import { Errno, HEADER_SIZE, MAGIC, MAX_COMMAND, MessageType, Tag } from '../../src/agent/protocol';
import { GuestInit, assertExited, byPid, childrenOf, eventually, isAlive, until } from './harness';

/**
 * Black-box tests of guest-init: the real static binary, driven through the project's own
 * AgentClient over a unix socket. Each test gets a fresh guest-init, killed afterwards.
 */

const { SIGKILL, SIGTERM } = constants.signals;
const { errno } = constants;
const sh = (script: string): string[] => ['sh', '-c', script];

/** Ids far above the client's own counter, for frames this file writes by hand. */
let rawId = 0x40000000;

function rawFrame(type: number, attributes = [attr.str(Tag.Message, 'raw')]): { id: number; bytes: Buffer } {
  const id = ++rawId;
  return { id, bytes: encodeFrame({ type, id, attributes }) };
}

function header(fields: { type: number; id: number; length: number; flags?: number }): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt16BE(fields.type, 4);
  b.writeUInt16BE(fields.flags ?? 0, 6);
  b.writeUInt32BE(fields.id, 8);
  b.writeUInt32BE(fields.length, 12);
  return b;
}

async function rejection(promise: Promise<unknown>): Promise<AgentError> {
  const error = await promise.then(
    () => assert.fail('expected an ERROR reply'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof AgentError, `expected an AgentError, got ${String(error)}`);
  return error;
}

/** A minimal root filesystem: a static busybox and the applets the tests call. */
function makeBusyboxRootfs(dir: string): string {
  const root = path.join(dir, 'rootfs');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.copyFileSync('/usr/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'ls', 'hostname', 'sleep', 'cat']) fs.symlinkSync('busybox', path.join(root, 'bin', applet));
  fs.writeFileSync(path.join(root, 'marker'), 'inside\n');
  return root;
}

describe('guest-init (standalone, --connect)', function () {
  let guest: GuestInit;

  beforeEach(async () => {
    guest = await GuestInit.session();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(`guest-init log:\n${guest.log}`);
    await guest.stop();
  });

  describe('exit status', () => {
    for (const code of [0, 1, 42, 255]) {
      it(`passes exit code ${code} through unchanged`, async () => {
        assertExited(await guest.run(sh(`exit ${code}`)), { status: code, stdout: '', stderr: '' });
      });
    }

    it('reports a process killed by signal N as 128+N with SIGNAL N', async () => {
      assertExited(await guest.run(sh('kill -9 $$')), { status: 128 + SIGKILL, signal: SIGKILL });
    });

    it('delivers SIGNAL to the process: SIGTERM ends sleep with 143', async () => {
      const process = guest.spec(['sleep', '30']);
      const watch = await guest.start(process);
      await guest.client.signal('c', process.processId, SIGTERM);
      assertExited(await watch.result, { status: 128 + SIGTERM, signal: SIGTERM });
    });

    it('answers SIGNAL for an unknown process with ENOENT', async () => {
      const error = await rejection(guest.client.signal('c', 'nobody', SIGTERM));
      assert.equal(error.errno, Errno.ENOENT);
    });
  });

  describe('process list', () => {
    const listed = (what: string, done: (processes: GuestProcess[]) => boolean, containerId = 'c') =>
      until(() => guest.client.listProcesses(containerId), done, what).then(byPid);

    it('lists each process started in the container and its children: real pids, parent, effective uid, command line', async () => {
      const shell = await guest.client.startProcess(guest.spec(sh('sleep 31 & wait')));
      const sleeper = await guest.client.startProcess(guest.spec(['sleep', '32'], { uid: 1000, gid: 1000 }));
      const processes = await listed('the shell forked its sleep', (ps) => ps.some((p) => p.command === 'sleep 31'));
      const child = processes.find((p) => p.command === 'sleep 31')!;
      assert.deepEqual(processes, byPid([
        { pid: shell, ppid: 0, uid: 0, command: 'sh -c sleep 31 & wait' },
        { pid: child.pid, ppid: shell, uid: 0, command: 'sleep 31' },
        { pid: sleeper, ppid: 0, uid: 1000, command: 'sleep 32' },
      ]));
    });

    it('lists only the running processes of the addressed container', async () => {
      assert.deepEqual(await guest.client.listProcesses('c'), []);
      await guest.addContainer('other', '/');
      await guest.start(guest.spec(['sleep', '30'], { containerId: 'other' }));
      assertExited(await guest.run(['true']), { status: 0 });
      const pid = await guest.client.startProcess(guest.spec(['sleep', '31']));
      assert.deepEqual(await guest.client.listProcesses('c'), [{ pid, ppid: 0, uid: 0, command: 'sleep 31' }]);
    });

    it('shows a process without a command line, such as a zombie, as [comm]', async () => {
      const pid = await guest.client.startProcess(guest.spec(sh('sleep 0 & exec sleep 30')));
      const settled = (ps: GuestProcess[]) => ps.some((p) => p.command === 'sleep 30') && ps.some((p) => p.command === '[sleep]');
      const processes = await listed('sleep 30 exec-ed and sleep 0 left a zombie', settled);
      assert.deepEqual(processes.map((p) => [p.ppid, p.command]), [[0, 'sleep 30'], [pid, '[sleep]']]);
    });

    it('cuts a command line to at most 1024 bytes, before the character that does not fit', async () => {
      const pid = await guest.client.startProcess(guest.spec([...sh('sleep 30; true'), 'é'.repeat(600)]));
      const processes = await listed('the shell started', (ps) => ps.some((p) => p.pid === pid));
      // 21 bytes of "sh -c sleep 30; true ", then 501 two-byte characters: the 502nd would end at byte 1025.
      const command = `sh -c sleep 30; true ${'é'.repeat(501)}`;
      assert.equal(Buffer.byteLength(command), MAX_COMMAND - 1);
      assert.deepEqual(processes.find((p) => p.pid === pid), { pid, ppid: 0, uid: 0, command });
    });

    it('cuts a list that does not fit in one frame short and marks it TRUNCATED', async () => {
      const shell = guest.spec(sh(`for i in $(seq 70); do sh -c 'sleep 30; true' ${'x'.repeat(1000)} & done; wait`));
      await guest.start(shell);
      const list = () => guest.client.request(MessageType.ListProcesses, [attr.str(Tag.ContainerId, 'c')]);
      const full = await until(list, (reply) => reply.u32(Tag.Truncated) === 1, 'a TRUNCATED list', 5000);
      // Each of the 70 inner shells takes 1053 bytes; 62 of them alone fill 64 KiB.
      const count = full.nested(Tag.Process).length;
      assert.ok(count >= 62 && count < 141, `${count} processes listed`);
      await guest.client.signal('c', shell.processId, SIGKILL, { all: true });
      const empty = await until(list, (reply) => reply.nested(Tag.Process).length === 0, 'every process killed');
      assert.equal(empty.u32(Tag.Truncated), undefined);
    });

    it('answers LIST_PROCESSES for an unknown container with ENOENT', async () => {
      const error = await rejection(guest.client.listProcesses('ghost'));
      assert.equal(error.errno, Errno.ENOENT);
    });

    it('signals every process of the container with ALL, children included, and no other container', async () => {
      const shell = guest.spec(sh('sleep 31 & wait'));
      const shellWatch = await guest.start(shell);
      const sleeperWatch = await guest.start(guest.spec(['sleep', '32']));
      await guest.addContainer('other', '/');
      const bystander = await guest.client.startProcess(guest.spec(['sleep', '33'], { containerId: 'other' }));
      const processes = await listed('the shell forked its sleep', (ps) => ps.some((p) => p.command === 'sleep 31'));
      const child = processes.find((p) => p.command === 'sleep 31')!;
      await guest.client.signal('c', shell.processId, SIGTERM, { all: true });
      assertExited(await shellWatch.result, { status: 128 + SIGTERM, signal: SIGTERM });
      assertExited(await sleeperWatch.result, { status: 128 + SIGTERM, signal: SIGTERM });
      await eventually(() => !isAlive(child.pid), `the shell's child ${child.pid} survived`);
      assert.ok(isAlive(bystander), 'the process of the other container was signalled');
    });

    it('signals only the addressed process without ALL', async () => {
      const target = guest.spec(['sleep', '30']);
      const watch = await guest.start(target);
      const other = await guest.client.startProcess(guest.spec(['sleep', '31']));
      await guest.client.signal('c', target.processId, SIGTERM);
      assertExited(await watch.result, { status: 128 + SIGTERM, signal: SIGTERM });
      assert.deepEqual(await guest.client.listProcesses('c'), [{ pid: other, ppid: 0, uid: 0, command: 'sleep 31' }]);
    });
  });

  describe('failed starts', () => {
    it('rejects a missing program with exit status 127 and sends no EXIT for it', async () => {
      const exits: string[] = [];
      guest.client.on('exit', (e) => exits.push(e.processId));
      const error = await rejection(guest.client.startProcess(guest.spec(['/nonexistent/program'], { processId: 'missing' })));
      assert.equal(error.exitStatus, 127);
      assert.equal(error.code, 'process-not-found');
      assert.equal(error.errno, Errno.ENOENT);
      // A later process runs to its EXIT: had the failed one produced an EXIT, it would be here by now.
      assertExited(await guest.run(['true']), { status: 0 });
      assert.ok(!exits.includes('missing'), `unexpected EXIT for the failed process: ${exits}`);
    });

    it('rejects a program not found on PATH with exit status 127', async () => {
      const error = await rejection(guest.client.startProcess(guest.spec(['no-such-program-anywhere'])));
      assert.equal(error.exitStatus, 127);
    });

    it('rejects a file without execute permission with exit status 126 and sends no EXIT for it', async () => {
      const file = path.join(guest.dir, 'not-executable');
      fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
      const exits: string[] = [];
      guest.client.on('exit', (e) => exits.push(e.processId));
      const error = await rejection(guest.client.startProcess(guest.spec([file], { processId: 'noexec' })));
      assert.equal(error.exitStatus, 126);
      assert.equal(error.code, 'process-not-executable');
      assert.equal(error.errno, Errno.EACCES);
      assertExited(await guest.run(['true']), { status: 0 });
      assert.ok(!exits.includes('noexec'), `unexpected EXIT for the failed process: ${exits}`);
    });

    it('refuses a second process with the same id while the first runs (EEXIST)', async () => {
      const process = guest.spec(['sleep', '30']);
      await guest.start(process);
      const error = await rejection(guest.client.startProcess({ ...process, args: ['true'] }));
      assert.equal(error.errno, Errno.EEXIST);
    });

    it('refuses a process in a container that was never added (ENOENT)', async () => {
      const error = await rejection(guest.client.startProcess(guest.spec(['true'], { containerId: 'ghost' })));
      assert.equal(error.errno, Errno.ENOENT);
    });
  });

  describe('output', () => {
    it('relays stdout and stderr as separate streams', async () => {
      assertExited(await guest.run(sh('printf out1; printf err1 >&2; printf out2; printf err2 >&2')), {
        status: 0,
        stdout: 'out1out2',
        stderr: 'err1err2',
      });
    });

    it('relays every byte value unchanged, on both streams', async () => {
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const file = path.join(guest.dir, 'bytes');
      fs.writeFileSync(file, all);
      assertExited(await guest.run(sh(`cat ${file}; cat ${file} >&2`)), { status: 0, stdout: all, stderr: all });
    });

    it('relays output larger than one frame (300 KiB) exactly, and sends EXIT after all of it', async () => {
      const data = randomBytes(300 * 1024);
      const file = path.join(guest.dir, 'big');
      fs.writeFileSync(file, data);
      const result = await guest.run(sh(`cat ${file}; cat ${file} >&2`));
      assertExited(result, { status: 0, stdout: data, stderr: data });
      assert.ok(result.events.filter((e) => e === 'stdout').length > 1, 'expected the output split over several frames');
      assert.equal(result.events.at(-1), 'exit');
      assert.equal(result.events.indexOf('exit'), result.events.length - 1);
    });

    it('sends EXIT only after a background grandchild closed the inherited stdout', async () => {
      const result = await guest.run(sh('(sleep 0.2; echo late) & exit 3'));
      assertExited(result, { status: 3, stdout: 'late\n' });
      assert.deepEqual(result.events, ['stdout', 'exit']);
    });
  });

  describe('stdin', () => {
    it('pipes 1 MiB of stdin through cat exactly, and closing stdin ends it', async () => {
      const data = randomBytes(1024 * 1024);
      assertExited(await guest.run(['cat'], {}, data), { status: 0, stdout: data, stderr: '' });
    });

    it('gives a process end of file on stdin when closed without data', async () => {
      assertExited(await guest.run(['wc', '-c'], {}, Buffer.alloc(0)), { status: 0, stdout: '0\n' });
    });

    it('refuses STDIN after stdin was closed (EPIPE)', async () => {
      const process = guest.spec(['sleep', '30']);
      await guest.start(process);
      await guest.client.closeStdin('c', process.processId);
      const error = await rejection(guest.client.writeStdin('c', process.processId, Buffer.from('late')));
      assert.equal(error.errno, errno.EPIPE);
    });
  });

  describe('process set-up', () => {
    it('replaces the environment with exactly the given ENV', async () => {
      assertExited(await guest.run(['env'], { env: ['A=1', 'B=two words', 'EMPTY='] }), {
        status: 0,
        stdout: 'A=1\nB=two words\nEMPTY=\n',
      });
    });

    it('finds programs on a default PATH when ENV has none', async () => {
      assertExited(await guest.run(['env'], { env: [] }), { status: 0, stdout: '' });
    });

    it('starts the process in CWD', async () => {
      assertExited(await guest.run(['pwd'], { cwd: guest.dir }), { status: 0, stdout: `${guest.dir}\n` });
    });

    it('applies UMASK, and 022 when none is given', async () => {
      assertExited(await guest.run(sh('umask'), { umask: 0o027 }), { status: 0, stdout: '0027\n' });
      assertExited(await guest.run(sh('umask')), { status: 0, stdout: '0022\n' });
    });

    it('applies RLIMIT soft and hard limits', async () => {
      const rlimits = [{ type: 'RLIMIT_NOFILE', soft: 123n, hard: 456n }];
      assertExited(await guest.run(sh('ulimit -Sn; ulimit -Hn'), { rlimits }), { status: 0, stdout: '123\n456\n' });
    });

    it('refuses an unknown RLIMIT_TYPE (EINVAL)', async () => {
      const error = await rejection(guest.client.startProcess(guest.spec(['true'], { rlimits: [{ type: 'RLIMIT_BOGUS', soft: 1n, hard: 1n }] })));
      assert.equal(error.errno, Errno.EINVAL);
      assert.match(error.message, /RLIMIT_BOGUS/);
    });

    it('switches to UID, GID and exactly the ADDITIONAL_GIDs', async () => {
      const result = await guest.run(sh('id -u; id -g; id -G'), { uid: 1000, gid: 1001, additionalGids: [10, 20] });
      assertExited(result, { status: 0, stdout: '1000\n1001\n1001 10 20\n' });
    });

    it('drops the supplementary groups of guest-init when none are given', async () => {
      assertExited(await guest.run(sh('id -G'), { uid: 0, gid: 0 }), { status: 0, stdout: '0\n' });
    });

    it('sets no_new_privs only when asked', async () => {
      const script = sh('grep NoNewPrivs /proc/self/status');
      assertExited(await guest.run(script, { noNewPrivileges: true }), { status: 0, stdout: 'NoNewPrivs:\t1\n' });
      assertExited(await guest.run(script, { noNewPrivileges: false }), { status: 0, stdout: 'NoNewPrivs:\t0\n' });
    });

    it('runs the process in its own session, with stdio not inherited from guest-init', async () => {
      const result = await guest.run(sh('test "$(ps -o sid= -p $$)" -eq $$ && readlink /proc/self/fd/0'));
      assertExited(result, { status: 0 });
      assert.match(result.stdout.toString(), /^pipe:\[\d+\]\n$/);
    });
  });

  describe('rootfs directory', () => {
    it('chroots a process into a container whose rootfs is a directory', async () => {
      const rootfs = makeBusyboxRootfs(guest.dir);
      await guest.addContainer('box', rootfs);
      const result = await guest.run(['ls', '/'], { containerId: 'box', env: ['PATH=/bin'] });
      assertExited(result, { status: 0, stdout: 'bin\nmarker\n' });
    });

    it('refuses a rootfs that is not a directory (ENOTDIR)', async () => {
      const file = path.join(guest.dir, 'file');
      fs.writeFileSync(file, '');
      const error = await rejection(guest.addContainer('bad', file));
      assert.equal(error.errno, errno.ENOTDIR);
    });

    it('takes a relative rootfs as a directory inside one of its shares, and refuses one that climbs out (EINVAL)', async () => {
      assert.equal((await rejection(guest.addContainer('box', 'pool/rootfs'))).errno, errno.ENOENT, 'no share holds it');
      const error = await rejection(guest.addContainer('box', 'pool/../../../etc'));
      assert.equal(error.errno, errno.EINVAL);
      assert.match(error.message, /bad ROOTFS_SOURCE pool\/\.\.\/\.\.\/\.\.\/etc/);
    });

    it('refuses a container id that is already taken (EEXIST)', async () => {
      const error = await rejection(guest.addContainer('c', '/'));
      assert.equal(error.errno, Errno.EEXIST);
    });
  });

  describe('reaping', () => {
    it('reaps an exited process so guest-init keeps no zombie, even when it left an orphan behind', async () => {
      const result = await guest.run(sh('(sleep 0.1 &) ; exit 3'));
      assertExited(result, { status: 3 });
      await eventually(() => childrenOf(guest.pid).length === 0, `guest-init still has children ${childrenOf(guest.pid)}`);
    });

    it('runs many short processes concurrently, each EXIT with its own status', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => guest.run(sh(`printf ${i}; exit ${i}`))));
      results.forEach((result, i) => assertExited(result, { status: i, stdout: String(i) }));
      await eventually(() => childrenOf(guest.pid).length === 0, 'all children reaped');
    });
  });

  describe('startContainer hooks', () => {
    const state = JSON.stringify({ ociVersion: '1.0.2', id: 'c', status: 'created', pid: 1234 });
    const hook = (script: string, extra: Partial<Hook> = {}): Hook => ({ path: '/bin/sh', args: ['sh', '-c', script], env: [`D=${guest.dir}`], ...extra });
    const marker = (name: string): string => path.join(guest.dir, name);

    it('runs each hook in order before the program, with the state on stdin, its ARGs and only its ENV', async () => {
      const script = 'cat > "$D/state"; echo "first $0 ${HOME-unset}" >> "$D/order"';
      const first = hook(script, { args: ['sh', '-c', script, 'argv0'] });
      const second = hook('echo second >> "$D/order"');
      const watch = await guest.start(guest.spec(['cat', marker('order')]), { hooks: [first, second], state });
      assertExited(await watch.result, { status: 0, stdout: 'first argv0 unset\nsecond\n' });
      assert.equal(fs.readFileSync(marker('state'), 'utf8'), state);
    });

    it("fails the start with the hook's status; neither later hooks nor the program run, and no EXIT follows", async () => {
      const exits: string[] = [];
      guest.client.on('exit', (e) => exits.push(e.processId));
      const process = guest.spec(['touch', marker('program-ran')], { processId: 'hooked' });
      const error = await rejection(guest.client.startProcess(process, { hooks: [hook('echo noise >&2; echo why it failed >&2; exit 3'), hook('touch "$D/second-ran"')], state }));
      assert.match(error.message, /^startContainer hook \/bin\/sh exited with status 3: why it failed$/);
      assert.equal(error.errno, Errno.ECANCELED);
      assert.equal(error.exitStatus, undefined);
      assertExited(await guest.run(['true']), { status: 0 });
      assert.ok(!fs.existsSync(marker('second-ran')) && !fs.existsSync(marker('program-ran')));
      assert.ok(!exits.includes('hooked'), `unexpected EXIT for the failed process: ${exits}`);
    });

    it('drains a hook that writes a lot to stderr, so it never blocks on the pipe', async () => {
      const loud = hook('head -c 1000000 /dev/zero >&2', { timeoutSeconds: 10 });
      const watch = await guest.start(guest.spec(['true']), { hooks: [loud], state });
      assertExited(await watch.result, { status: 0 });
    });

    it('kills a hook that outlives its timeout and fails the start', async () => {
      const started = Date.now();
      const error = await rejection(guest.client.startProcess(guest.spec(['true']), { hooks: [hook('sleep 30', { timeoutSeconds: 1 })], state }));
      assert.match(error.message, /timed out after 1 s/);
      assert.equal(error.errno, Errno.ETIMEDOUT);
      assert.ok(Date.now() - started < 10_000, 'the hook was not waited for to its end');
    });
  });

  describe('terminal', () => {
    it('gives a TERMINAL process a pty of ROWS x COLS, and its output comes as stdout only', async () => {
      const result = await guest.run(sh('tty; stty size; echo to-stderr >&2'), { terminal: true, rows: 24, cols: 80 });
      assertExited(result, { status: 0, stderr: '' });
      assert.match(result.stdout.toString(), /^\/dev\/pts\/\d+\r\n24 80\r\nto-stderr\r\n$/);
      assert.ok(!result.events.includes('stderr'));
    });

    it('changes the window size on RESIZE', async () => {
      const process = guest.spec(sh('read line; stty size'), { terminal: true, rows: 24, cols: 80 });
      const watch = await guest.start(process);
      await guest.client.resize('c', process.processId, 50, 132);
      await guest.client.writeStdin('c', process.processId, Buffer.from('go\n'));
      const result = await watch.result;
      assertExited(result, { status: 0 });
      assert.match(result.stdout.toString(), /50 132\r\n$/);
    });

    it('turns closing stdin into end of file on the pty', async () => {
      const process = guest.spec(sh('cat; echo "cat exited $?"'), { terminal: true });
      const watch = await guest.start(process);
      await guest.client.writeStdin('c', process.processId, Buffer.from('hello\n'));
      await guest.client.closeStdin('c', process.processId);
      // The pty echoes the input, then cat copies it.
      assertExited(await watch.result, { status: 0, stdout: 'hello\r\nhello\r\ncat exited 0\r\n' });
    });

    it('sends nothing when stdin closes while the program reads raw (no VEOF byte, no ^@)', async () => {
      // Non-canonical, reads time out after 0.5 s: any byte guest-init wrote would be read here.
      const process = guest.spec(sh('stty -icanon -echo min 0 time 5; echo ready; x=$(dd bs=1 count=1 2>/dev/null | od -An -c); echo "got[$x]"'), { terminal: true });
      const watch = await guest.start(process);
      await eventually(() => watch.stdoutSoFar.includes('ready'), 'the program to read raw');
      await guest.client.closeStdin('c', process.processId);
      assertExited(await watch.result, { status: 0, stdout: 'ready\r\ngot[]\r\n' });
    });

    it('lets a TERMINAL process that closed its stdio run on and exit with its own status', async () => {
      const result = await guest.run(sh('exec 0<&- 1>&- 2>&-; sleep 0.1; exit 5'), { terminal: true });
      assertExited(result, { status: 5, stdout: '' });
    });

    it('refuses RESIZE for a process without a terminal (ENOTTY)', async () => {
      const process = guest.spec(['sleep', '30']);
      await guest.start(process);
      const error = await rejection(guest.client.resize('c', process.processId, 10, 10));
      assert.equal(error.errno, errno.ENOTTY);
    });
  });

  describe('protocol robustness', () => {
    it('answers HELLO with its protocol version', async () => {
      assert.equal(await guest.client.hello(), 1);
    });

    it('answers HELLO of another version with EPROTONOSUPPORT and its own VERSION', async () => {
      const { id, bytes } = rawFrame(MessageType.Hello, [attr.u32(Tag.Version, 2)]);
      guest.sendRaw(bytes);
      const { type, reader } = await guest.wire.reply(id);
      assert.equal(type, MessageType.Error);
      assert.equal(reader.u32(Tag.Code), Errno.EPROTONOSUPPORT);
      assert.equal(reader.u32(Tag.Version), 1);
    });

    it('answers garbage once with ERROR id 0 EBADMSG, then serves the next request', async () => {
      guest.sendRaw(Buffer.from('this is not a frame, just noise '.repeat(64)));
      assert.equal(await guest.client.hello(), 1);
      const garbage = guest.wire.errors(0);
      assert.equal(garbage.length, 1, 'one ERROR for one run of garbage');
      assert.equal(garbage[0].u32(Tag.Code), Errno.EBADMSG);
    });

    it('answers a payload over 64 KiB with EMSGSIZE, skips it, then serves the next request', async () => {
      const id = ++rawId;
      guest.sendRaw(Buffer.concat([header({ type: MessageType.Hello, id, length: 70000 }), Buffer.alloc(70000, 'R')]));
      const { type, reader } = await guest.wire.reply(id);
      assert.equal(type, MessageType.Error);
      assert.equal(reader.u32(Tag.Code), Errno.EMSGSIZE);
      assertExited(await guest.run(['echo', 'still here']), { status: 0, stdout: 'still here\n' });
    });

    it('answers non-zero flags with EBADMSG echoing the id', async () => {
      const id = ++rawId;
      guest.sendRaw(Buffer.concat([header({ type: MessageType.Hello, id, length: 0, flags: 1 })]));
      const { type, reader } = await guest.wire.reply(id);
      assert.equal(type, MessageType.Error);
      assert.equal(reader.u32(Tag.Code), Errno.EBADMSG);
    });

    it('answers an attribute that overruns the payload, or a u32 of the wrong size, with EBADMSG', async () => {
      const overrun = Buffer.alloc(4);
      overrun.writeUInt16BE(Tag.Version, 0);
      overrun.writeUInt16BE(100, 2);
      const id = ++rawId;
      guest.sendRaw(Buffer.concat([header({ type: MessageType.Hello, id, length: overrun.length }), overrun]));
      const wrongSize = rawFrame(MessageType.Hello, [attr.str(Tag.Version, 'one')]);
      guest.sendRaw(wrongSize.bytes);
      assert.equal((await guest.wire.reply(id)).reader.u32(Tag.Code), Errno.EBADMSG);
      assert.equal((await guest.wire.reply(wrongSize.id)).reader.u32(Tag.Code), Errno.EBADMSG);
      assert.equal(await guest.client.hello(), 1);
    });

    it('answers attributes nested deeper than two levels with EBADMSG', async () => {
      const deep = attr.nested(Tag.Rlimit, [attr.nested(Tag.Rlimit, [attr.str(Tag.RlimitType, 'RLIMIT_NOFILE')])]);
      const error = await rejection(guest.client.request(MessageType.StartProcess, [attr.str(Tag.ContainerId, 'c'), attr.str(Tag.ProcessId, 'deep'), attr.str(Tag.Arg, 'true'), deep]));
      assert.equal(error.errno, Errno.EBADMSG);
    });

    it('checks inside every nested attribute: a HOOK whose HOOK_TIMEOUT is not a u32, a SHARE or CGROUP_FILE that overruns', async () => {
      const start = (extra: Attribute): Promise<unknown> =>
        guest.client.request(MessageType.StartProcess, [attr.str(Tag.ContainerId, 'c'), attr.str(Tag.ProcessId, 'bad'), attr.str(Tag.Arg, 'true'), extra]);
      const shortTimeout = attr.nested(Tag.Hook, [attr.str(Tag.HookPath, '/bin/true'), attr.str(Tag.Arg, 'true'), attr.bytes(Tag.HookTimeout, Buffer.from([0, 1]))]);
      assert.equal((await rejection(start(shortTimeout))).errno, Errno.EBADMSG);
      const overrun = Buffer.from([0, Tag.MountType, 0, 200]);
      assert.equal((await rejection(start({ tag: Tag.Share, value: overrun }))).errno, Errno.EBADMSG);
      assert.equal((await rejection(guest.client.request(MessageType.SetCgroup, [attr.str(Tag.ContainerId, 'c'), { tag: Tag.CgroupFile, value: overrun }]))).errno, Errno.EBADMSG);
    });

    it('answers an unknown message type with EOPNOTSUPP', async () => {
      const error = await rejection(guest.client.request(0x7f as MessageType, []));
      assert.equal(error.errno, Errno.EOPNOTSUPP);
    });

    it('answers a request missing a required attribute with EINVAL naming it', async () => {
      const error = await rejection(guest.client.request(MessageType.Signal, [attr.str(Tag.ContainerId, 'c'), attr.u32(Tag.Signal, SIGTERM)]));
      assert.equal(error.errno, Errno.EINVAL);
      assert.match(error.message, /PROCESS_ID/);
    });

    it('answers LIST_PROCESSES without CONTAINER_ID with EINVAL naming it', async () => {
      const error = await rejection(guest.client.request(MessageType.ListProcesses, []));
      assert.equal(error.errno, Errno.EINVAL);
      assert.match(error.message, /CONTAINER_ID/);
    });

    it('answers a SIGNAL whose ALL is not a u32 with EBADMSG, and signals nothing', async () => {
      const process = guest.spec(['sleep', '30']);
      const pid = await guest.client.startProcess(process);
      const request = [attr.str(Tag.ContainerId, 'c'), attr.str(Tag.ProcessId, process.processId), attr.u32(Tag.Signal, SIGKILL), attr.str(Tag.All, 'yes')];
      const error = await rejection(guest.client.request(MessageType.Signal, request));
      assert.equal(error.errno, Errno.EBADMSG);
      assert.ok(isAlive(pid), 'the malformed SIGNAL was acted on');
    });

    it('answers a request with id 0 with EINVAL', async () => {
      guest.sendRaw(encodeFrame({ type: MessageType.Hello, id: 0, attributes: [attr.u32(Tag.Version, 1)] }));
      assert.equal(await guest.client.hello(), 1);
      const [error] = guest.wire.errors(0);
      assert.equal(error?.u32(Tag.Code), Errno.EINVAL);
    });

    it('never answers an ERROR or OK from the host', async () => {
      const error = rawFrame(MessageType.Error, [attr.u32(Tag.Code, Errno.EINVAL)]);
      const ok = rawFrame(MessageType.Ok, []);
      guest.sendRaw(Buffer.concat([error.bytes, ok.bytes]));
      assert.equal(await guest.client.hello(), 1);
      assert.deepEqual(
        guest.wire.frames.filter((f) => f.id === error.id || f.id === ok.id),
        [],
      );
    });

    it('serves a request split into single bytes', async () => {
      const { id, bytes } = rawFrame(MessageType.Hello, [attr.u32(Tag.Version, 1)]);
      for (const byte of bytes) {
        guest.sendRaw(Buffer.from([byte]));
        await new Promise((resolve) => setImmediate(resolve));
      }
      const { type, reader } = await guest.wire.reply(id);
      assert.equal(type, MessageType.Ok);
      assert.equal(reader.u32(Tag.Version), 1);
    });
  });

  describe('shutdown', () => {
    it('kills every process, answers SHUTDOWN, and exits 0', async () => {
      const process = guest.spec(['sleep', '30']);
      const pid = await guest.client.startProcess(process);
      const exited = once(guest.child, 'exit');
      await guest.client.shutdown();
      assert.deepEqual(await exited, [0, null]);
      assert.ok(!isAlive(pid), `process ${pid} survived SHUTDOWN`);
    });

    it('kills every process and exits 0 when the host closes the channel', async () => {
      const pid = await guest.client.startProcess(guest.spec(['sleep', '30']));
      const exited = once(guest.child, 'exit');
      guest.client.close();
      assert.deepEqual(await exited, [0, null]);
      assert.ok(!isAlive(pid), `process ${pid} survived the closed channel`);
    });
  });

  describe('negative control', () => {
    it('negative control: the assertions reject a wrong status, wrong stdout and wrong stderr of a real process', async () => {
      const result = await guest.run(sh('printf right; printf err >&2; exit 3'));
      assertExited(result, { status: 3, stdout: 'right', stderr: 'err' });
      assert.throws(() => assertExited(result, { status: 0 }), assert.AssertionError);
      assert.throws(() => assertExited(result, { status: 3, stdout: 'wrong' }), assert.AssertionError);
      assert.throws(() => assertExited(result, { status: 3, stdout: 'right', stderr: 'right' }), assert.AssertionError);
      assert.throws(() => assertExited(result, { status: 3, signal: SIGKILL }), assert.AssertionError);
    });

    it('negative control: the harness fails when the binary is not guest-init', async () => {
      await assert.rejects(GuestInit.start('standalone', '/bin/false'), /exited with 1 before connecting/);
    });
  });
});

describe('guest-init as PID 1 (unshare --pid --mount, --connect)', function () {
  let guest: GuestInit;
  let rootfs: string;

  beforeEach(async () => {
    guest = await GuestInit.start('pid1');
    await guest.client.hello();
    rootfs = makeBusyboxRootfs(guest.dir);
    await guest.addContainer('c', rootfs, [attr.str(Tag.Hostname, 'box-host')]);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(`guest-init log:\n${guest.log}`);
    await guest.stop();
  });

  const init = { init: true, env: ['PATH=/bin'] };

  it('starts INIT as PID 1 of a new PID namespace, with HOSTNAME, inside the rootfs', async () => {
    const result = await guest.run(sh('echo $$; hostname; ls /'), init);
    assertExited(result, { status: 0, stdout: '1\nbox-host\nbin\nmarker\n', stderr: '' });
  });

  it('refuses a non-INIT process before the container init runs (ESRCH)', async () => {
    const error = await rejection(guest.client.startProcess(guest.spec(['true'], { env: ['PATH=/bin'] })));
    assert.equal(error.errno, Errno.ESRCH);
  });

  it('refuses a second INIT while the first runs (EBUSY)', async () => {
    await guest.start(guest.spec(['sleep', '30'], init));
    const error = await rejection(guest.client.startProcess(guest.spec(['true'], init)));
    assert.equal(error.errno, errno.EBUSY);
  });

  it('runs a later process in the init namespaces: same root and hostname, not PID 1', async () => {
    const initProcess = guest.spec(['sleep', '30'], init);
    const initWatch = await guest.start(initProcess);
    const result = await guest.run(sh('echo $$; hostname; ls /'), { env: ['PATH=/bin'] });
    assertExited(result, { status: 0, stderr: '' });
    const [pid, ...rest] = result.stdout.toString().split('\n');
    assert.notEqual(pid, '1');
    assert.deepEqual(rest, ['box-host', 'bin', 'marker', '']);
    await guest.client.signal('c', initProcess.processId, SIGKILL);
    assertExited(await initWatch.result, { status: 128 + SIGKILL, signal: SIGKILL });
  });

  describe('process list', () => {
    /** Background jobs of busybox sh need /dev/null: a /dev that guest-init fills. */
    const withDev = [attr.nested(Tag.Mount, [attr.str(Tag.MountType, 'tmpfs'), attr.str(Tag.MountDest, '/dev')])];

    it('lists the processes in the container PID namespace, numbered as the container sees them', async () => {
      await guest.addContainer('box', rootfs, withDev);
      await guest.start(guest.spec(sh('sleep 31 & wait'), { ...init, containerId: 'box' }));
      const list = () => guest.client.listProcesses('box');
      await until(list, (ps) => ps.some((p) => p.command === 'sleep 31'), 'the init forked its sleep');
      await guest.start(guest.spec(['sleep', '32'], { containerId: 'box', env: ['PATH=/bin'], uid: 1000 }));
      const processes = await until(list, (ps) => ps.length === 3, 'the later process runs');
      assert.deepEqual(byPid(processes), [
        { pid: 1, ppid: 0, uid: 0, command: 'sh -c sleep 31 & wait' },
        { pid: 2, ppid: 1, uid: 0, command: 'sleep 31' },
        { pid: 3, ppid: 0, uid: 1000, command: 'sleep 32' },
      ]);
    });

    it('lists no process before the container init runs', async () => {
      assert.deepEqual(await guest.client.listProcesses('c'), []);
    });

    it('signals the init too with ALL when a later process is addressed', async () => {
      const initWatch = await guest.start(guest.spec(['sleep', '30'], init));
      const later = guest.spec(['sleep', '31'], { env: ['PATH=/bin'] });
      const laterWatch = await guest.start(later);
      await guest.client.signal('c', later.processId, SIGKILL, { all: true });
      assertExited(await initWatch.result, { status: 128 + SIGKILL, signal: SIGKILL });
      assertExited(await laterWatch.result, { status: 128 + SIGKILL, signal: SIGKILL });
    });
  });

  describe('mount destinations, maskedPaths, readonlyPaths', () => {
    const tmpfsOn = (dest: string) => attr.nested(Tag.Mount, [attr.str(Tag.MountType, 'tmpfs'), attr.str(Tag.MountDest, dest)]);

    it('refuses a mount destination that leaves the root through a symlink (EXDEV)', async () => {
      fs.symlinkSync('../../..', path.join(rootfs, 'escape'));
      const error = await rejection(guest.addContainer('box', rootfs, [tmpfsOn('/escape/etc')]));
      assert.equal(error.errno, errno.EXDEV);
      assert.match(error.message, /mount destination \/escape\/etc leaves the container root through a symlink/);
    });

    it('follows an absolute symlink from the container root, as the container sees it', async () => {
      fs.mkdirSync(path.join(rootfs, 'inside'));
      fs.symlinkSync('/inside', path.join(rootfs, 'abs'));
      await guest.addContainer('box', rootfs, [tmpfsOn('/abs')]);
      const result = await guest.run(sh('touch /inside/on-tmpfs && ls /inside'), { ...init, containerId: 'box' });
      assertExited(result, { status: 0, stdout: 'on-tmpfs\n' });
      assert.deepEqual(fs.readdirSync(path.join(rootfs, 'inside')), [], 'the tmpfs covered the rootfs directory');
    });

    it('refuses a mount type it does not know (EOPNOTSUPP)', async () => {
      const nfs = attr.nested(Tag.Mount, [attr.str(Tag.MountType, 'nfs'), attr.str(Tag.MountDest, '/n')]);
      const error = await rejection(guest.addContainer('box', rootfs, [nfs]));
      assert.equal(error.errno, Errno.EOPNOTSUPP);
    });

    it('hides masked paths and makes readonly paths read-only; missing ones are no error', async () => {
      fs.writeFileSync(path.join(rootfs, 'secret'), 'hidden\n');
      fs.mkdirSync(path.join(rootfs, 'locked'));
      const paths = [attr.str(Tag.MaskedPath, '/secret'), attr.str(Tag.MaskedPath, '/absent'), attr.str(Tag.ReadonlyPath, '/locked'), tmpfsOn('/dev')];
      await guest.addContainer('box', rootfs, paths);
      const result = await guest.run(sh('cat /secret; touch /locked/x 2>/dev/null || echo refused'), { ...init, containerId: 'box' });
      assertExited(result, { status: 0, stdout: 'refused\n' });
    });
  });

  it('ends every process of the container when its init dies, each with its own EXIT, and keeps no zombie', async () => {
    const initProcess = guest.spec(['sleep', '30'], init);
    const initWatch = await guest.start(initProcess);
    const execWatch = await guest.start(guest.spec(['sleep', '30'], { env: ['PATH=/bin'] }));
    await guest.client.signal('c', initProcess.processId, SIGKILL);
    assertExited(await initWatch.result, { status: 128 + SIGKILL, signal: SIGKILL });
    assertExited(await execWatch.result, { status: 128 + SIGKILL, signal: SIGKILL });
    await eventually(() => childrenOf(guest.pid).length === 0, `guest-init still has children ${childrenOf(guest.pid)}`);
  });
});
