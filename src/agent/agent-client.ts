import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { RunvError } from '../core/errors';
import { ContainerModel, GuestInterface, ProcessModel } from '../core/model';
import { Attribute, AttributeReader, Frame, FrameDecoder, FrameError, attr, encodeFrame, isReply } from './codec';
import { addContainerAttributes, addInterfaceAttributes, GuestHooks, processAddress, startProcessAttributes } from './messages';
import { Errno, MAX_DATA_CHUNK, MessageType, PROTOCOL_VERSION, Tag } from './protocol';

/** An ERROR reply from the guest, with the errno it carried. */
export class AgentError extends RunvError {
  constructor(readonly errno: number, message: string, readonly exitStatus?: number) {
    super(exitStatus === 127 ? 'process-not-found' : exitStatus === 126 ? 'process-not-executable' : 'guest', message);
  }
}

export interface ProcessOutput {
  containerId: string;
  processId: string;
  data: Buffer;
}

export interface ProcessExit {
  containerId: string;
  processId: string;
  status: number;
  signal?: number;
}

/** A process of a container as the container sees it: its own pid numbering. */
export interface GuestProcess {
  pid: number;
  /** 0 when the parent is not in the container (its init, and processes the host started in it). */
  ppid: number;
  uid: number;
  /** argv joined by spaces, or [comm] when it has none; at most MAX_COMMAND bytes. */
  command: string;
}

export enum OutputStream {
  Stdout = 1,
  Stderr = 2,
}

interface Pending {
  resolve: (reply: AttributeReader) => void;
  reject: (error: Error) => void;
}

export interface AgentClientEvents {
  stdout: [ProcessOutput];
  stderr: [ProcessOutput];
  exit: [ProcessExit];
  close: [];
}

const HELLO_INTERVAL_MS = 100;

/** A socket the guest connects to; `accepted` settles with its one connection. */
export interface GuestListener {
  accepted: Promise<AgentClient>;
  close(): void;
}

/**
 * The host side of the agent protocol over one stream (the VM's virtio-serial socket, or a unix
 * socket to a standalone guest-init in tests). Requests are matched to replies by id; stdout,
 * stderr and exit arrive as events.
 */
export class AgentClient extends EventEmitter<AgentClientEvents> {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk) => this.receive(chunk));
    // 'close' follows every 'error' and settles what is pending.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.shutdownPending('agent channel closed');
      this.emit('close');
    });
  }

  static connect(path: string): Promise<AgentClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path);
      socket.once('connect', () => resolve(new AgentClient(socket)));
      socket.once('error', (error) => reject(new RunvError('guest', `cannot connect to the agent channel ${path}: ${error.message}`)));
    });
  }

  /**
   * Listens on `path` for the guest to connect (guest-init as an LXC container's init connects
   * out, where QEMU's socket waits for runv): one connection, then the socket takes no more.
   */
  static listen(path: string): Promise<GuestListener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      const accepted = new Promise<AgentClient>((accept) =>
        server.once('connection', (socket) => {
          server.close();
          accept(new AgentClient(socket));
        }),
      );
      server.once('error', (error) => reject(new RunvError('guest', `cannot listen on the agent channel ${path}: ${error.message}`)));
      server.listen(path, () => resolve({ accepted, close: () => server.close() }));
    });
  }

  /**
   * Says hello until the guest answers: bytes sent before guest-init opens its port are dropped,
   * so one hello may be lost. Resolves with the guest's protocol version. A `probe` only checks
   * that the guest answers: guest-init does not power off when the prober leaves (a warm pool).
   */
  async hello(signal?: AbortSignal, probe = false): Promise<number> {
    const helloIds: number[] = [];
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const answered = new Promise<AttributeReader>((resolve, reject) => {
      const send = (): void => {
        helloIds.push(this.nextId);
        this.request(MessageType.Hello, [attr.u32(Tag.Version, PROTOCOL_VERSION), ...(probe ? [attr.u32(Tag.Probe, 1)] : [])]).then(resolve, (error) => {
          if (error instanceof AgentError || this.closed) reject(error);
        });
        timer = setTimeout(send, HELLO_INTERVAL_MS);
      };
      if (signal?.aborted) return reject(signal.reason);
      onAbort = () => reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      send();
    });
    try {
      const reply = await answered;
      return reply.required(Tag.Version, reply.u32);
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      clearTimeout(timer);
      // Late answers to repeated hellos are expected: forget their waiters.
      for (const id of helloIds) this.pending.delete(id);
    }
  }

  async addContainer(container: ContainerModel): Promise<void> {
    await this.request(MessageType.AddContainer, addContainerAttributes(container));
  }

  /** Gives the VM's interface with that MAC the interface's name, MTU, addresses and routes. */
  async addInterface(iface: GuestInterface): Promise<void> {
    await this.request(MessageType.AddInterface, addInterfaceAttributes(iface));
  }

  /** Starts a process; an init runs `guestHooks` first, in its container, and fails with them. */
  async startProcess(process: ProcessModel, guestHooks?: GuestHooks): Promise<number> {
    const reply = await this.request(MessageType.StartProcess, startProcessAttributes(process, guestHooks));
    return reply.required(Tag.Pid, reply.u32);
  }

  /** Sends stdin in chunks, each after the guest acknowledged the previous one. */
  async writeStdin(containerId: string, processId: string, data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length; offset += MAX_DATA_CHUNK) {
      const chunk = data.subarray(offset, offset + MAX_DATA_CHUNK);
      await this.request(MessageType.Stdin, [...processAddress(containerId, processId), attr.bytes(Tag.Data, chunk)]);
    }
  }

  async closeStdin(containerId: string, processId: string): Promise<void> {
    await this.request(MessageType.Stdin, processAddress(containerId, processId));
  }

  async resize(containerId: string, processId: string, rows: number, cols: number): Promise<void> {
    await this.request(MessageType.Resize, [...processAddress(containerId, processId), attr.u32(Tag.Rows, rows), attr.u32(Tag.Cols, cols)]);
  }

  /** With `all`, to every process of the container, not only the addressed one (`kill --all`). */
  async signal(containerId: string, processId: string, signal: number, options: { all?: boolean } = {}): Promise<void> {
    const all = options.all ? [attr.u32(Tag.All, 1)] : [];
    await this.request(MessageType.Signal, [...processAddress(containerId, processId), attr.u32(Tag.Signal, signal), ...all]);
  }

  /**
   * Every process of the container. A list too long for one reply (about a thousand processes)
   * comes cut short: the guest marks it TRUNCATED, and the processes that fit are still worth showing.
   */
  async listProcesses(containerId: string): Promise<GuestProcess[]> {
    const reply = await this.request(MessageType.ListProcesses, [attr.str(Tag.ContainerId, containerId)]);
    return reply.nested(Tag.Process).map((p) => ({
      pid: p.required(Tag.Pid, p.u32),
      ppid: p.required(Tag.Ppid, p.u32),
      uid: p.required(Tag.Uid, p.u32),
      command: p.required(Tag.Command, p.str),
    }));
  }

  /** Writes files of the container's cgroup in the guest (`memory.max`, ...), in order. */
  async setCgroup(containerId: string, files: Record<string, string>): Promise<void> {
    const entries = Object.entries(files).map(([name, value]) => attr.nested(Tag.CgroupFile, [attr.str(Tag.CgroupFileName, name), attr.str(Tag.CgroupFileValue, value)]));
    await this.request(MessageType.SetCgroup, [attr.str(Tag.ContainerId, containerId), ...entries]);
  }

  /** Reads files of the container's cgroup in the guest, by name. */
  async readCgroup(containerId: string, names: string[]): Promise<Record<string, string>> {
    const reply = await this.request(MessageType.ReadCgroup, [attr.str(Tag.ContainerId, containerId), ...names.map((n) => attr.str(Tag.CgroupFileName, n))]);
    return Object.fromEntries(reply.nested(Tag.CgroupFile).map((f) => [f.required(Tag.CgroupFileName, f.str), f.required(Tag.CgroupFileValue, f.str)]));
  }

  async shutdown(): Promise<void> {
    await this.request(MessageType.Shutdown, []);
  }

  /** Closes the guest's end of a process's output: the host's reader of it went away. */
  async closeOutput(containerId: string, processId: string, stream: OutputStream): Promise<void> {
    await this.request(MessageType.CloseOutput, [...processAddress(containerId, processId), attr.u32(Tag.Stream, stream)]);
  }

  /**
   * Stops reading from the guest until resume(): a slow host reader then slows the guest's
   * writer down (guest-init buffers a bounded amount) instead of runv buffering without end.
   */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
  }

  request(type: MessageType, attributes: Attribute[]): Promise<AttributeReader> {
    if (this.closed) return Promise.reject(new RunvError('guest', 'the agent channel is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(encodeFrame({ type, id, attributes }));
    });
  }

  private receive(chunk: Buffer): void {
    for (const event of this.decoder.push(chunk)) {
      if (event.kind === 'error') this.badFrame(event.error);
      else this.dispatch(event.frame);
    }
  }

  /**
   * Answers a malformed frame, unless it was a reply: like guest-init, the host never answers an
   * OK or ERROR, so two peers cannot loop on each other. A malformed reply fails its request
   * instead, which would otherwise wait forever.
   */
  private badFrame(error: FrameError): void {
    if (error.type !== undefined && isReply(error.type)) {
      this.takePending(error.id)?.reject(new RunvError('guest', `malformed reply from the guest: ${error.message}`));
      return;
    }
    this.socket.write(encodeFrame({ type: MessageType.Error, id: error.id, attributes: [attr.u32(Tag.Code, error.errno), attr.str(Tag.Message, error.message)] }));
  }

  private dispatch(frame: Frame): void {
    const reader = new AttributeReader(frame.attributes, frame);
    try {
      if (isReply(frame.type)) this.settle(frame, reader);
      else this.handleEvent(frame, reader);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.badFrame(error);
    }
  }

  private settle(frame: Frame, reader: AttributeReader): void {
    if (frame.type === MessageType.Ok) return this.takePending(frame.id)?.resolve(reader);
    // Read before the waiter is taken: a malformed ERROR then fails it through badFrame.
    const errno = reader.u32(Tag.Code) ?? 0;
    const exitStatus = reader.u32(Tag.ExitStatus);
    this.takePending(frame.id)?.reject(new AgentError(errno, reader.str(Tag.Message) ?? `guest error ${errno}`, exitStatus));
  }

  private takePending(id: number): Pending | undefined {
    const waiter = this.pending.get(id);
    this.pending.delete(id);
    return waiter;
  }

  private handleEvent(frame: Frame, reader: AttributeReader): void {
    const address = () => ({ containerId: reader.required(Tag.ContainerId, reader.str), processId: reader.required(Tag.ProcessId, reader.str) });
    switch (frame.type) {
      case MessageType.Stdout:
        this.emit('stdout', { ...address(), data: reader.bytes(Tag.Data) ?? Buffer.alloc(0) });
        return;
      case MessageType.Stderr:
        this.emit('stderr', { ...address(), data: reader.bytes(Tag.Data) ?? Buffer.alloc(0) });
        return;
      case MessageType.Exit:
        this.emit('exit', { ...address(), status: reader.required(Tag.ExitStatus, reader.u32), signal: reader.u32(Tag.Signal) });
        return;
      default:
        throw new FrameError(Errno.EOPNOTSUPP, `unexpected message type ${frame.type} from the guest`, frame);
    }
  }

  private shutdownPending(reason: string): void {
    for (const p of this.pending.values()) p.reject(new RunvError('guest', reason));
    this.pending.clear();
  }
}
