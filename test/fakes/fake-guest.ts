import * as net from 'node:net';
import { AttributeReader, Attribute, FrameDecoder, attr, encodeFrame } from '../../src/agent/codec';
import { Errno, MessageType, PROTOCOL_VERSION, Tag } from '../../src/agent/protocol';

/**
 * A stand-in for guest-init that speaks the real protocol on a real socket, for unit tests of
 * the host side. Its "processes" are scripted by their first argument:
 *   echo ARGS...   writes ARGS to stdout, exits 0
 *   exit N         exits with status N
 *   cat            echoes stdin to stdout until stdin is closed, exits 0
 *   sleep          runs until signalled, exits 128+signal (unless told to ignore signals)
 *   /missing...    fails to start with exit status 127
 *   slowstart      like sleep, but the OK to its start comes 200 ms late
 */
export class FakeGuest {
  readonly received: { type: number; attributes: AttributeReader }[] = [];
  private readonly decoder = new FrameDecoder();
  private readonly programs = new Map<string, string>();

  constructor(
    private readonly socket: net.Socket,
    private readonly options: { ignoresSignals?: boolean; onPowerOff?: () => void } = {},
  ) {
    socket.on('data', (chunk) => {
      for (const event of this.decoder.push(chunk)) if (event.kind === 'frame') this.handle(event.frame.type, event.frame.id, event.frame.attributes);
    });
    socket.on('error', () => undefined);
  }

  private handle(type: number, id: number, attributes: Attribute[]): void {
    const r = new AttributeReader(attributes);
    this.received.push({ type, attributes: r });
    const ok = (...reply: Attribute[]) => this.send(MessageType.Ok, id, reply);
    switch (type) {
      case MessageType.Hello:
        return ok(attr.u32(Tag.Version, PROTOCOL_VERSION));
      case MessageType.AddContainer:
      case MessageType.Resize:
        return ok();
      case MessageType.Shutdown:
        ok();
        return this.options.onPowerOff?.();
      case MessageType.StartProcess:
        return this.start(id, r);
      case MessageType.Stdin: {
        const data = r.bytes(Tag.Data);
        ok();
        if (this.programs.get(r.str(Tag.ProcessId) ?? '') !== 'cat') return;
        if (data && data.length) return this.output(MessageType.Stdout, r, data);
        return this.exit(r, 0);
      }
      case MessageType.CloseOutput:
        ok();
        // A process whose output pipe broke dies of SIGPIPE at its next write.
        return this.exit(r, 128 + 13);
      case MessageType.Signal:
        ok();
        return this.options.ignoresSignals ? undefined : this.exit(r, 128 + (r.u32(Tag.Signal) ?? 0));
      default:
        this.send(MessageType.Error, id, [attr.u32(Tag.Code, Errno.EOPNOTSUPP)]);
    }
  }

  private start(id: number, r: AttributeReader): void {
    const [program, ...rest] = r.strs(Tag.Arg);
    if (program.startsWith('/missing')) {
      return this.send(MessageType.Error, id, [attr.u32(Tag.Code, Errno.ENOENT), attr.u32(Tag.ExitStatus, 127), attr.str(Tag.Message, `exec ${program}: No such file or directory`)]);
    }
    this.programs.set(r.str(Tag.ProcessId) ?? '', program);
    if (program === 'slowstart') {
      setTimeout(() => this.send(MessageType.Ok, id, [attr.u32(Tag.Pid, 42)]), 200);
      return;
    }
    this.send(MessageType.Ok, id, [attr.u32(Tag.Pid, 42)]);
    if (program === 'echo') {
      this.output(MessageType.Stdout, r, Buffer.from(rest.join(' ') + '\n'));
      this.exit(r, 0);
    } else if (program === 'exit') {
      this.exit(r, Number(rest[0]));
    }
  }

  private output(type: MessageType, r: AttributeReader, data: Buffer): void {
    this.send(type, 0, [...this.address(r), attr.bytes(Tag.Data, data)]);
  }

  private exit(r: AttributeReader, status: number): void {
    this.send(MessageType.Exit, 0, [...this.address(r), attr.u32(Tag.ExitStatus, status)]);
  }

  private address(r: AttributeReader): Attribute[] {
    return [attr.str(Tag.ContainerId, r.str(Tag.ContainerId) ?? ''), attr.str(Tag.ProcessId, r.str(Tag.ProcessId) ?? '')];
  }

  private send(type: MessageType, id: number, attributes: Attribute[]): void {
    this.socket.write(encodeFrame({ type, id, attributes }));
  }
}
