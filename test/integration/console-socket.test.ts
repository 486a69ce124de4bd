import assert from 'node:assert/strict';
import { ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { CONSOLE_SOCKET_HELPER, sendConsoleMaster } from '../../src/console/console-socket';
import { RunvError } from '../../src/core/errors';

/**
 * The real helper against a real receiver: test/support/console-peer.py listens like conmon
 * does, takes the fd with recvmsg and proves it is the pty whose slave the helper named.
 */
const PEER = path.resolve(__dirname, '../support/console-peer.py');
const SUN_PATH_MAX = 107;

interface PeerReport {
  payload: string;
  fds: number;
  truncated: boolean;
  rows: number;
  cols: number;
  toSlave: string;
  toMaster: string;
}

class ConsolePeer {
  private readonly lines: AsyncIterator<string>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async listen(socketPath: string): Promise<ConsolePeer> {
    const peer = new ConsolePeer(spawn('python3', [PEER, socketPath]));
    assert.equal(await peer.line(), 'ready');
    return peer;
  }

  async report(): Promise<PeerReport> {
    return JSON.parse(await this.line()) as PeerReport;
  }

  stop(): void {
    this.child.kill();
  }

  private async line(): Promise<string> {
    const next = await this.lines.next();
    if (next.done) throw new Error(`console-peer.py ended early: ${this.child.stderr.read() ?? ''}`);
    return next.value;
  }
}

async function rejection(promise: Promise<unknown>): Promise<RunvError> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (error: unknown) => {
      assert.ok(error instanceof RunvError, `not a RunvError: ${String(error)}`);
      return error;
    },
  );
}

/** A socket file that nobody listens on any more, as a crashed caller leaves behind. */
function staleSocket(socketPath: string): void {
  execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', socketPath]);
}

/** A directory deep enough that `console.sock` inside it is longer than sun_path allows. */
function longDirectory(root: string): string {
  const dir = path.join(root, 'a'.repeat(60), 'b'.repeat(60));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

describe('console socket: sending the pty master to the caller', () => {
  let dir: string;
  let peer: ConsolePeer | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runv-console-'));
  });

  afterEach(() => {
    peer?.stop();
    peer = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('hands the listener one pty master, which talks to the slave named in the payload and resolved', async () => {
    const socketPath = path.join(dir, 'console.sock');
    peer = await ConsolePeer.listen(socketPath);

    const slave = await sendConsoleMaster(socketPath);
    const report = await peer.report();

    assert.match(slave, /^\/dev\/pts\/\d+$/);
    assert.equal(report.payload, slave);
    assert.equal(report.fds, 1);
    assert.equal(report.truncated, false);
    assert.equal(report.toSlave, 'ping');
    assert.equal(report.toMaster, 'pong');
  });

  it('sizes the pty before sending it when given rows and cols', async () => {
    const socketPath = path.join(dir, 'console.sock');
    peer = await ConsolePeer.listen(socketPath);

    await sendConsoleMaster(socketPath, { rows: 40, cols: 132 });
    const report = await peer.report();

    assert.deepEqual([report.rows, report.cols], [40, 132]);
  });

  it('reaches a socket whose path is longer than sun_path', async () => {
    const socketPath = path.join(longDirectory(dir), 'console.sock');
    assert.ok(socketPath.length > SUN_PATH_MAX);
    peer = await ConsolePeer.listen(socketPath);

    const slave = await sendConsoleMaster(socketPath, { rows: 24, cols: 80 });
    const report = await peer.report();

    assert.equal(report.payload, slave);
    assert.equal(report.toSlave, 'ping');
    assert.deepEqual([report.rows, report.cols], [24, 80]);
  });

  it('rejects with one line naming the socket when nothing is at the path', async () => {
    const socketPath = path.join(dir, 'missing.sock');

    const error = await rejection(sendConsoleMaster(socketPath));

    assert.equal(error.code, 'invalid-argument');
    assert.equal(error.message, `console socket ${socketPath}: No such file or directory`);
  });

  it('rejects the same way for a missing socket whose path is longer than sun_path', async () => {
    const socketPath = path.join(longDirectory(dir), 'missing.sock');

    const error = await rejection(sendConsoleMaster(socketPath));

    assert.equal(error.message, `console socket ${socketPath}: No such file or directory`);
  });

  it('rejects with one line naming the socket when nobody listens on it', async () => {
    const socketPath = path.join(dir, 'stale.sock');
    staleSocket(socketPath);

    const error = await rejection(sendConsoleMaster(socketPath));

    assert.equal(error.code, 'invalid-argument');
    assert.equal(error.message, `console socket ${socketPath}: Connection refused`);
  });

  it('refuses a size outside 0..65535 without running the helper', async () => {
    const error = await rejection(sendConsoleMaster(path.join(dir, 'console.sock'), { rows: 70000, cols: 80 }));

    assert.equal(error.code, 'invalid-argument');
    assert.equal(error.message, 'console size: rows must be an integer from 0 to 65535, not 70000');
  });
});

describe('runv-console-socket usage', () => {
  it('exits 2 with a usage line for a size that is not a number, before touching the socket', () => {
    const result = spawnSync(CONSOLE_SOCKET_HELPER, ['/nonexistent/console.sock', '24', 'wide'], { encoding: 'utf8' });

    assert.equal(result.status, 2);
    assert.match(result.stderr, /^usage: runv-console-socket SOCKET \[ROWS COLS\]/);
  });

  it('exits 2 without a socket', () => {
    const result = spawnSync(CONSOLE_SOCKET_HELPER, [], { encoding: 'utf8' });

    assert.equal(result.status, 2);
  });
});
