import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient, AgentError, ProcessExit, ProcessOutput } from '../../../src/agent/agent-client';
import { Attribute, AttributeReader, Frame, FrameDecoder, attr, encodeFrame } from '../../../src/agent/codec';
import { Errno, HEADER_SIZE, MAGIC, MAX_DATA_CHUNK, MessageType, PROTOCOL_VERSION, Tag } from '../../../src/agent/protocol';
import { RunvError } from '../../../src/core/errors';
import { processModel } from '../../support/process-model';

/**
 * The guest end of the channel, scripted per test: it decodes what the client sends with the
 * real codec and answers through `answer`, on a real unix socket.
 */
class ScriptedGuest {
  readonly received: Frame[] = [];
  answer: (frame: Frame) => void = () => undefined;
  private readonly decoder = new FrameDecoder();
  private readonly waiters: (() => void)[] = [];

  constructor(readonly socket: net.Socket) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      for (const event of this.decoder.push(chunk)) {
        if (event.kind === 'error') throw new Error(`the client sent a malformed frame: ${event.error.message}`);
        this.received.push(event.frame);
        this.answer(event.frame);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  send(type: MessageType, id: number, attributes: Attribute[] = []): void {
    this.socket.write(encodeFrame({ type, id, attributes }));
  }

  /** Resolves with the first frame received that matches. */
  async frame(matches: (frame: Frame) => boolean): Promise<Frame> {
    for (;;) {
      const frame = this.received.find(matches);
      if (frame) return frame;
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
  }

  /** Frames of one type, in the order received. */
  ofType(type: MessageType): Frame[] {
    return this.received.filter((f) => f.type === type);
  }
}

/** A frame whose only attribute claims 10 bytes but carries 1: malformed before any attribute is read. */
function overrunFrame(type: MessageType, id: number): Buffer {
  const b = Buffer.alloc(HEADER_SIZE + 5);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt16BE(type, 4);
  b.writeUInt32BE(id, 8);
  b.writeUInt32BE(5, 12);
  b.writeUInt16BE(Tag.Message, HEADER_SIZE);
  b.writeUInt16BE(10, HEADER_SIZE + 2);
  return b;
}

const reader = (frame: Frame) => new AttributeReader(frame.attributes, frame);


async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (error: Error) => error,
  );
}

describe('AgentClient against a scripted guest', () => {
  let dir: string;
  let server: net.Server;
  let client: AgentClient;
  let guest: ScriptedGuest;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-client-test-'));
    const socketPath = path.join(dir, 'agent.sock');
    server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
    const accepted = once(server, 'connection');
    client = await AgentClient.connect(socketPath);
    const [socket] = (await accepted) as [net.Socket];
    guest = new ScriptedGuest(socket);
  });

  afterEach(async () => {
    client.close();
    guest.socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('hello', () => {
    it('repeats HELLO until the guest answers, resolves with its version, then stops', async () => {
      guest.answer = (f) => {
        if (f.type === MessageType.Hello && guest.ofType(MessageType.Hello).length === 3) guest.send(MessageType.Ok, f.id, [attr.u32(Tag.Version, 3)]);
      };
      assert.equal(await client.hello(), 3);
      const hellos = guest.ofType(MessageType.Hello);
      assert.equal(hellos.length, 3);
      assert.deepEqual(hellos.map((f) => reader(f).u32(Tag.Version)), [PROTOCOL_VERSION, PROTOCOL_VERSION, PROTOCOL_VERSION]);
      assert.equal(new Set(hellos.map((f) => f.id)).size, 3, 'each hello has its own id');
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.equal(guest.ofType(MessageType.Hello).length, 3, 'no hello after the answer');
    });

    it('marks a probe, which only checks that the guest answers, and no other hello', async () => {
      guest.answer = (f) => guest.send(MessageType.Ok, f.id, [attr.u32(Tag.Version, PROTOCOL_VERSION)]);
      await client.hello(undefined, true);
      await client.hello();
      assert.deepEqual(guest.ofType(MessageType.Hello).map((f) => reader(f).u32(Tag.Probe)), [1, undefined]);
    });

    it('ignores late replies to earlier hellos without answering them', async () => {
      guest.answer = (f) => {
        if (f.type === MessageType.Hello && guest.ofType(MessageType.Hello).length === 2) guest.send(MessageType.Ok, f.id, [attr.u32(Tag.Version, 1)]);
      };
      await client.hello();
      const [first] = guest.ofType(MessageType.Hello);
      guest.send(MessageType.Ok, first.id, [attr.u32(Tag.Version, 1)]);
      guest.send(MessageType.Error, first.id, [attr.u32(Tag.Code, Errno.EINVAL)]);
      guest.answer = (f) => guest.send(MessageType.Ok, f.id);
      await client.signal('c', 'p', 15);
      assert.deepEqual(guest.ofType(MessageType.Error), []);
    });

    it('rejects with an AgentError when the guest answers EPROTONOSUPPORT', async () => {
      guest.answer = (f) => guest.send(MessageType.Error, f.id, [attr.u32(Tag.Code, Errno.EPROTONOSUPPORT), attr.u32(Tag.Version, 2), attr.str(Tag.Message, 'version 2 only')]);
      const error = await rejection(client.hello());
      assert.ok(error instanceof AgentError);
      assert.equal(error.errno, Errno.EPROTONOSUPPORT);
      assert.equal(error.message, 'version 2 only');
    });
  });

  describe('replies', () => {
    const failStart = (exitStatus?: number) => (f: Frame) =>
      guest.send(MessageType.Error, f.id, [
        attr.u32(Tag.Code, Errno.ENOENT),
        attr.str(Tag.Message, 'exec /bin/true: No such file or directory'),
        ...(exitStatus === undefined ? [] : [attr.u32(Tag.ExitStatus, exitStatus)]),
      ]);

    it('rejects a request with an AgentError carrying the errno, message and exit status', async () => {
      guest.answer = failStart(127);
      const error = await rejection(client.startProcess(processModel({ processId: 'p' })));
      assert.ok(error instanceof AgentError);
      assert.deepEqual([error.errno, error.message, error.exitStatus], [Errno.ENOENT, 'exec /bin/true: No such file or directory', 127]);
    });

    for (const [exitStatus, code, exitCode] of [
      [127, 'process-not-found', 127],
      [126, 'process-not-executable', 126],
      [undefined, 'guest', 1],
    ] as const) {
      it(`maps a failed start with exit status ${exitStatus ?? '(none)'} to the error code ${code}`, async () => {
        guest.answer = failStart(exitStatus);
        const error = (await rejection(client.startProcess(processModel({ processId: 'p' })))) as AgentError;
        assert.deepEqual([error.code, error.exitCode], [code, exitCode]);
      });
    }

    it('resolves startProcess with the PID of the OK', async () => {
      guest.answer = (f) => guest.send(MessageType.Ok, f.id, [attr.u32(Tag.Pid, 4242)]);
      assert.equal(await client.startProcess(processModel({ processId: 'p' })), 4242);
    });
  });

  describe('bad frames from the guest', () => {
    it('answers a run of garbage once with ERROR EBADMSG id 0 and keeps serving requests', async () => {
      guest.socket.write(Buffer.from('this is not a frame '.repeat(100)));
      guest.answer = (f) => guest.send(MessageType.Ok, f.id);
      await client.resize('c', 'p', 24, 80);
      const errors = guest.ofType(MessageType.Error);
      assert.equal(errors.length, 1);
      assert.deepEqual([errors[0].id, reader(errors[0]).u32(Tag.Code)], [0, Errno.EBADMSG]);
    });

    it('answers a malformed event with EBADMSG echoing its id', async () => {
      guest.socket.write(overrunFrame(MessageType.Stdout, 77));
      const error = await guest.frame((f) => f.type === MessageType.Error);
      assert.deepEqual([error.id, reader(error).u32(Tag.Code)], [77, Errno.EBADMSG]);
    });

    it('never answers a malformed ERROR, and fails the request it was meant for', async () => {
      guest.answer = (f) => {
        if (f.type === MessageType.Signal) guest.socket.write(overrunFrame(MessageType.Error, f.id));
        if (f.type === MessageType.Resize) guest.send(MessageType.Error, f.id, [attr.str(Tag.Code, 'not a u32')]);
      };
      const framing = await rejection(client.signal('c', 'p', 15));
      const attribute = await rejection(client.resize('c', 'p', 24, 80));
      for (const error of [framing, attribute]) {
        assert.ok(error instanceof RunvError && !(error instanceof AgentError), `${error}`);
        assert.match(error.message, /malformed reply/);
      }
      // Anything the client answered was written before this request.
      guest.answer = (f) => guest.send(MessageType.Ok, f.id);
      await client.shutdown();
      assert.deepEqual(guest.ofType(MessageType.Error), []);
    });

    it('never answers a malformed OK, and fails the request it was meant for', async () => {
      guest.answer = (f) => guest.socket.write(overrunFrame(MessageType.Ok, f.id));
      const error = await rejection(client.signal('c', 'p', 15));
      assert.ok(error instanceof RunvError);
      assert.match(error.message, /malformed reply/);
      guest.answer = (f) => guest.send(MessageType.Ok, f.id);
      await client.shutdown();
      assert.deepEqual(guest.ofType(MessageType.Error), []);
    });
  });

  describe('closing', () => {
    it('rejects every pending request and hello with a RunvError when the channel closes', async () => {
      const closed = once(client, 'close');
      const pending = [rejection(client.hello()), rejection(client.signal('c', 'p', 9)), rejection(client.shutdown())];
      await guest.frame((f) => f.type === MessageType.Shutdown);
      guest.socket.destroy();
      for (const error of await Promise.all(pending)) {
        assert.ok(error instanceof RunvError && !(error instanceof AgentError), `${error}`);
        assert.equal(error.code, 'guest');
      }
      await closed;
    });

    it('rejects a request made after the channel closed at once', async () => {
      guest.socket.destroy();
      await once(client, 'close');
      const error = await rejection(client.signal('c', 'p', 9));
      assert.ok(error instanceof RunvError);
      assert.match(error.message, /closed/);
    });
  });

  describe('events', () => {
    it('emits stdout, stderr and exit with their container and process ids', async () => {
      const seen: [string, ProcessOutput | ProcessExit][] = [];
      client.on('stdout', (o) => seen.push(['stdout', o]));
      client.on('stderr', (o) => seen.push(['stderr', o]));
      const exited = once(client, 'exit');
      client.on('exit', (e) => seen.push(['exit', e]));
      const address = [attr.str(Tag.ContainerId, 'c1'), attr.str(Tag.ProcessId, 'p1')];
      guest.send(MessageType.Stdout, 0, [...address, attr.bytes(Tag.Data, Buffer.from('out'))]);
      guest.send(MessageType.Stderr, 0, [...address, attr.bytes(Tag.Data, Buffer.from('err'))]);
      guest.send(MessageType.Exit, 0, [...address, attr.u32(Tag.ExitStatus, 137), attr.u32(Tag.Signal, 9)]);
      await exited;
      assert.deepEqual(seen, [
        ['stdout', { containerId: 'c1', processId: 'p1', data: Buffer.from('out') }],
        ['stderr', { containerId: 'c1', processId: 'p1', data: Buffer.from('err') }],
        ['exit', { containerId: 'c1', processId: 'p1', status: 137, signal: 9 }],
      ]);
    });

    it('answers an event without its process id with EINVAL, and emits nothing', async () => {
      let emitted = false;
      client.on('exit', () => (emitted = true));
      guest.send(MessageType.Exit, 0, [attr.str(Tag.ContainerId, 'c1'), attr.u32(Tag.ExitStatus, 0)]);
      const error = await guest.frame((f) => f.type === MessageType.Error);
      assert.equal(reader(error).u32(Tag.Code), Errno.EINVAL);
      assert.match(reader(error).str(Tag.Message) ?? '', /PROCESS_ID|ProcessId/);
      assert.equal(emitted, false);
    });
  });

  describe('processes', () => {
    const listed = (pid: number, ppid: number, uid: number, command: string) =>
      attr.nested(Tag.Process, [attr.u32(Tag.Pid, pid), attr.u32(Tag.Ppid, ppid), attr.u32(Tag.Uid, uid), attr.str(Tag.Command, command)]);

    it('asks LIST_PROCESSES for the container and resolves with each PROCESS of the OK', async () => {
      guest.answer = (f) => guest.send(MessageType.Ok, f.id, [listed(1, 0, 0, 'sh -c sleep 30 & wait'), listed(7, 1, 1000, '[sleep]')]);
      assert.deepEqual(await client.listProcesses('c1'), [
        { pid: 1, ppid: 0, uid: 0, command: 'sh -c sleep 30 & wait' },
        { pid: 7, ppid: 1, uid: 1000, command: '[sleep]' },
      ]);
      const [request] = guest.ofType(MessageType.ListProcesses);
      assert.equal(reader(request).str(Tag.ContainerId), 'c1');
    });

    it('resolves a list the guest marked TRUNCATED with the processes that fit', async () => {
      guest.answer = (f) => guest.send(MessageType.Ok, f.id, [listed(1, 0, 0, 'init'), attr.u32(Tag.Truncated, 1)]);
      assert.deepEqual(await client.listProcesses('c1'), [{ pid: 1, ppid: 0, uid: 0, command: 'init' }]);
    });

    it('rejects a listed process without its COMMAND, naming what is missing', async () => {
      guest.answer = (f) => guest.send(MessageType.Ok, f.id, [attr.nested(Tag.Process, [attr.u32(Tag.Pid, 1), attr.u32(Tag.Ppid, 0), attr.u32(Tag.Uid, 0)])]);
      const error = await rejection(client.listProcesses('c1'));
      assert.ok(error instanceof RunvError && !(error instanceof AgentError), `${error}`);
      assert.match(error.message, /Command/);
    });

    it('sends ALL=1 with SIGNAL only when asked to signal every process of the container', async () => {
      guest.answer = (f) => guest.send(MessageType.Ok, f.id);
      await client.signal('c', 'init', 9, { all: true });
      await client.signal('c', 'init', 15);
      const signals = guest.ofType(MessageType.Signal).map((f) => reader(f));
      assert.deepEqual(signals.map((r) => [r.str(Tag.ProcessId), r.u32(Tag.Signal), r.u32(Tag.All)]), [['init', 9, 1], ['init', 15, undefined]]);
    });
  });

  describe('stdin', () => {
    it('splits stdin into chunks of at most 32768 bytes, sending each after the OK of the previous', async () => {
      let outstanding = 0;
      let mostOutstanding = 0;
      guest.answer = (f) => {
        if (f.type !== MessageType.Stdin) return;
        mostOutstanding = Math.max(mostOutstanding, ++outstanding);
        // A slow guest: a client that did not wait would send the next chunk meanwhile.
        setTimeout(() => {
          outstanding--;
          guest.send(MessageType.Ok, f.id);
        }, 20);
      };
      const data = Buffer.alloc(2 * MAX_DATA_CHUNK + 100);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      await client.writeStdin('c', 'p', data);
      const chunks = guest.ofType(MessageType.Stdin).map((f) => reader(f));
      assert.deepEqual(chunks.map((r) => r.bytes(Tag.Data)?.length), [MAX_DATA_CHUNK, MAX_DATA_CHUNK, 100]);
      assert.ok(Buffer.concat(chunks.map((r) => r.bytes(Tag.Data)!)).equals(data), 'the chunks are the data, in order');
      assert.deepEqual(chunks.map((r) => [r.str(Tag.ContainerId), r.str(Tag.ProcessId)]), [['c', 'p'], ['c', 'p'], ['c', 'p']]);
      assert.equal(mostOutstanding, 1, 'never two STDIN frames awaiting their OK');
    });

    it('closes stdin with a STDIN frame that has no DATA', async () => {
      guest.answer = (f) => guest.send(MessageType.Ok, f.id);
      await client.closeStdin('c', 'p');
      const [frame] = guest.ofType(MessageType.Stdin);
      const r = reader(frame);
      assert.deepEqual([r.str(Tag.ContainerId), r.str(Tag.ProcessId), r.bytes(Tag.Data)], ['c', 'p', undefined]);
    });
  });
});
