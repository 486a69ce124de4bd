import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient, GuestProcess, ProcessExit, ProcessOutput } from '../../src/agent/agent-client';
import { Attribute, AttributeReader, Frame, FrameDecoder, attr } from '../../src/agent/codec';
import { GuestHooks } from '../../src/agent/messages';
import { MessageType, Tag } from '../../src/agent/protocol';
import { ProcessModel } from '../../src/core/model';
import { processModel } from '../support/process-model';

/**
 * Runs the real guest-init binary against the project's own AgentClient on a real unix socket.
 * Standalone mode (`--connect`) runs processes as plain children; PID-1 mode wraps it in
 * `unshare --pid --fork --mount --mount-proc` so that the namespace and root-switch paths run
 * without a VM.
 */
export const GUEST_INIT = path.resolve(__dirname, '../../guest-init/build/guest-init');

export type Mode = 'standalone' | 'pid1';

export interface RunResult {
  status: number;
  signal?: number;
  stdout: Buffer;
  stderr: Buffer;
  /** The order in which this process's frames arrived. */
  events: ('stdout' | 'stderr' | 'exit')[];
}

/** Every frame guest-init sends, decoded independently of the client: to see replies the client drops. */
export class WireTap {
  readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder();
  private readonly waiters: (() => void)[] = [];

  constructor(socket: net.Socket) {
    socket.on('data', (chunk) => {
      for (const event of this.decoder.push(chunk)) if (event.kind === 'frame') this.frames.push(event.frame);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  errors(id: number): AttributeReader[] {
    return this.frames.filter((f) => f.type === MessageType.Error && f.id === id).map((f) => new AttributeReader(f.attributes, f));
  }

  /** Resolves with the first reply (OK or ERROR) carrying this id. */
  async reply(id: number): Promise<{ type: MessageType; reader: AttributeReader }> {
    for (;;) {
      const frame = this.frames.find((f) => f.id === id && (f.type === MessageType.Ok || f.type === MessageType.Error));
      if (frame) return { type: frame.type, reader: new AttributeReader(frame.attributes, frame) };
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
  }
}

/** One process's frames, collected until its EXIT. */
export class ProcessWatch {
  readonly result: Promise<RunResult>;
  private readonly stdout: Buffer[] = [];
  private readonly stderr: Buffer[] = [];
  private readonly events: RunResult['events'] = [];
  private resolve: (result: RunResult) => void = () => undefined;
  private reject: (error: Error) => void = () => undefined;

  constructor(readonly processId: string) {
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.result.catch(() => undefined);
  }

  /** What the process wrote to stdout so far. */
  get stdoutSoFar(): string {
    return Buffer.concat(this.stdout).toString();
  }

  output(kind: 'stdout' | 'stderr', data: Buffer): void {
    this.events.push(kind);
    this[kind].push(data);
  }

  exit(e: ProcessExit): void {
    this.events.push('exit');
    this.resolve({ status: e.status, signal: e.signal, stdout: Buffer.concat(this.stdout), stderr: Buffer.concat(this.stderr), events: this.events });
  }

  abandon(): void {
    this.reject(new Error(`channel closed before ${this.processId} exited`));
  }
}

let processCounter = 0;

export class GuestInit {
  private readonly watches = new Map<string, ProcessWatch>();

  private constructor(
    readonly mode: Mode,
    readonly dir: string,
    readonly child: ChildProcess,
    readonly client: AgentClient,
    readonly wire: WireTap,
    private readonly socket: net.Socket,
    private readonly server: net.Server,
    private readonly stderr: { text: string },
  ) {
    // One listener per event, routed by address: tests may run many processes at once.
    const route = (e: { containerId: string; processId: string }) => this.watches.get(`${e.containerId}/${e.processId}`);
    client.on('stdout', (o: ProcessOutput) => route(o)?.output('stdout', o.data));
    client.on('stderr', (o: ProcessOutput) => route(o)?.output('stderr', o.data));
    client.on('exit', (e: ProcessExit) => {
      route(e)?.exit(e);
      this.watches.delete(`${e.containerId}/${e.processId}`);
    });
    client.on('close', () => {
      for (const watch of this.watches.values()) watch.abandon();
    });
  }

  /** `wrap` is a command guest-init runs under in standalone mode, such as `ip netns exec NAME`. */
  static async start(mode: Mode = 'standalone', binary = GUEST_INIT, wrap: string[] = []): Promise<GuestInit> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guest-init-test-'));
    const socketPath = path.join(dir, 'agent.sock');
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
    const [command, args] =
      mode === 'pid1'
        ? ['unshare', ['--pid', '--fork', '--mount', '--mount-proc', '--kill-child', binary, '--connect', socketPath]]
        : [wrap[0] ?? binary, [...wrap.slice(1), ...(wrap.length ? [binary] : []), '--connect', socketPath]];
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr = { text: '' };
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr.text += text));
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`${path.basename(binary)} exited with ${code} before connecting: ${stderr.text}`);
    });
    try {
      const [socket] = (await Promise.race([once(server, 'connection'), exited])) as [net.Socket];
      const wire = new WireTap(socket);
      return new GuestInit(mode, dir, child, new AgentClient(socket), wire, socket, server, stderr);
    } catch (error) {
      child.kill('SIGKILL');
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    } finally {
      exited.catch(() => undefined);
    }
  }

  /** HELLO, then container `c` whose rootfs is used as is (no ROOTFS_FSTYPE: nothing to mount). */
  static async session(mode: Mode = 'standalone'): Promise<GuestInit> {
    const guest = await GuestInit.start(mode);
    await guest.client.hello();
    await guest.addContainer('c', '/');
    return guest;
  }

  /** What guest-init logged: printed when a test fails, so a failure explains itself. */
  get log(): string {
    return this.stderr.text;
  }

  /** Writes bytes past the client, on the same socket: to feed guest-init malformed frames. */
  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The host pid of guest-init itself (under unshare it is unshare's child). */
  get pid(): number {
    if (this.mode === 'standalone') return this.child.pid!;
    const [pid] = childrenOf(this.child.pid!);
    assert.ok(pid, 'unshare has no child');
    return pid;
  }

  async addContainer(id: string, rootfs: string, extra: Attribute[] = []): Promise<void> {
    await this.client.request(MessageType.AddContainer, [attr.str(Tag.ContainerId, id), attr.str(Tag.RootfsSource, rootfs), ...extra]);
  }

  spec(args: string[], overrides: Partial<ProcessModel> = {}): ProcessModel {
    return processModel({ processId: `p${++processCounter}`, args, env: ['PATH=/usr/bin:/bin'], ...overrides });
  }

  /** Starts a process and returns its watch; the START_PROCESS error, if any, is thrown. */
  async start(process: ProcessModel, guestHooks?: GuestHooks): Promise<ProcessWatch> {
    // Watched before the request: output may follow the OK in the same read.
    const key = `${process.containerId}/${process.processId}`;
    const watch = new ProcessWatch(process.processId);
    this.watches.set(key, watch);
    try {
      await this.client.startProcess(process, guestHooks);
    } catch (error) {
      this.watches.delete(key);
      throw error;
    }
    return watch;
  }

  /** Runs a process to its EXIT, feeding it `stdin` (then end of file) when given. */
  async run(args: string[], overrides: Partial<ProcessModel> = {}, stdin?: Buffer): Promise<RunResult> {
    const process = this.spec(args, overrides);
    const watch = await this.start(process);
    if (stdin) {
      await this.client.writeStdin(process.containerId, process.processId, stdin);
      await this.client.closeStdin(process.containerId, process.processId);
    }
    return watch.result;
  }

  /**
   * Standalone guest-init kills its processes and exits when the channel closes; give it a
   * moment to, so no process outlives the test. Under unshare, killing it ends the namespace.
   */
  async stop(): Promise<void> {
    const running = this.child.exitCode === null && this.child.signalCode === null;
    const exited = running ? once(this.child, 'exit') : Promise.resolve();
    this.client.close();
    if (running) {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), this.mode === 'standalone' ? 2000 : 0);
      await exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Direct children of a process, from /proc: zombies included, which is the point. */
export function childrenOf(pid: number): number[] {
  const tasks = fs.readdirSync(`/proc/${pid}/task`);
  return tasks.flatMap((tid) =>
    fs
      .readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number),
  );
}

export function isAlive(pid: number): boolean {
  try {
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').match(/^\d+ \(.*\) Z /);
  } catch {
    return false;
  }
}

export async function eventually(check: () => boolean, what: string, timeoutMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Asks until the answer is what `done` wants: what a started shell forks shows up in a process
 * list a moment after the OK of its start.
 */
export async function until<T>(ask: () => Promise<T>, done: (answer: T) => boolean, what: string, timeoutMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await ask();
    if (done(answer)) return answer;
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}; last answer ${JSON.stringify(answer)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A process list in pid order, which the protocol does not promise: to compare lists. */
export const byPid = (processes: GuestProcess[]): GuestProcess[] => [...processes].sort((a, b) => a.pid - b.pid);

/** The one assertion on a finished process: status, then exact bytes of each stream. */
export function assertExited(result: RunResult, expected: { status: number; signal?: number; stdout?: string | Buffer; stderr?: string | Buffer }): void {
  assert.equal(result.status, expected.status, `exit status (stderr: ${result.stderr.toString()})`);
  assert.equal(result.signal, expected.signal, 'signal');
  if (expected.stdout !== undefined) assertBytes(result.stdout, expected.stdout, 'stdout');
  if (expected.stderr !== undefined) assertBytes(result.stderr, expected.stderr, 'stderr');
}

/** Exact bytes; large buffers are reported by length and first difference, not dumped. */
export function assertBytes(actual: Buffer, expected: string | Buffer, what: string): void {
  const want = Buffer.from(expected);
  if (want.length <= 1024 && actual.length <= 1024) return assert.equal(actual.toString('latin1'), want.toString('latin1'), what);
  let at = 0;
  while (at < Math.min(actual.length, want.length) && actual[at] === want[at]) at++;
  assert.ok(actual.equals(want), `${what}: ${actual.length} bytes, expected ${want.length}; first difference at byte ${at}`);
}
