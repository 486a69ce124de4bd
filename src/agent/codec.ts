import { RunvError } from '../core/errors';
import { ATTRIBUTE_HEADER_SIZE, Errno, HEADER_SIZE, MAGIC, MAX_ATTRIBUTE_VALUE, MAX_PAYLOAD, MessageType, Tag } from './protocol';

/**
 * Framing and TLV attributes (docs/protocol.md). Pure: no sockets here, so every malformed
 * input can be tested byte by byte.
 */
export interface Attribute {
  tag: number;
  value: Buffer;
}

export interface Frame {
  type: number;
  id: number;
  attributes: Attribute[];
}

/** Which frame a problem was found in: its id, and its type once the header was read. */
export interface FrameOrigin {
  id: number;
  type?: number;
}

/**
 * A malformed frame, with the errno to answer it with. `type` is undefined when no header could
 * be read (bad magic); the receiver needs it because an ERROR is never answered.
 */
/** A malformed frame. A RunvError too: one that escapes to the CLI (a reply missing what its caller needs) prints as one line. */
export class FrameError extends RunvError {
  readonly id: number;
  readonly type?: number;

  constructor(readonly errno: number, message: string, origin: FrameOrigin = { id: 0 }) {
    super('guest', message);
    this.id = origin.id;
    this.type = origin.type;
  }
}

const MAX_NESTING = 2;
const MAGIC_BYTES = Buffer.from('RUNV', 'ascii');
const { EBADMSG, EMSGSIZE, EINVAL } = Errno;

export const attr = {
  u32: (tag: Tag, value: number): Attribute => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value >>> 0);
    return { tag, value: b };
  },
  u64: (tag: Tag, value: bigint): Attribute => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(value);
    return { tag, value: b };
  },
  str: (tag: Tag, value: string): Attribute => ({ tag, value: Buffer.from(value, 'utf8') }),
  bytes: (tag: Tag, value: Buffer): Attribute => ({ tag, value }),
  nested: (tag: Tag, children: Attribute[]): Attribute => ({ tag, value: encodeAttributes(children) }),
};

export function encodeAttributes(attributes: Attribute[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attributes) {
    if (a.value.length > MAX_ATTRIBUTE_VALUE) throw new RangeError(`attribute ${a.tag} is ${a.value.length} bytes, over ${MAX_ATTRIBUTE_VALUE}`);
    const head = Buffer.alloc(ATTRIBUTE_HEADER_SIZE);
    head.writeUInt16BE(a.tag, 0);
    head.writeUInt16BE(a.value.length, 2);
    parts.push(head, a.value);
  }
  return Buffer.concat(parts);
}

export function encodeFrame(frame: Frame): Buffer {
  const payload = encodeAttributes(frame.attributes);
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt16BE(frame.type, 4);
  header.writeUInt16BE(0, 6);
  header.writeUInt32BE(frame.id >>> 0, 8);
  header.writeUInt32BE(payload.length, 12);
  return Buffer.concat([header, payload]);
}

export function decodeAttributes(payload: Buffer, origin: FrameOrigin = { id: 0 }): Attribute[] {
  const attributes: Attribute[] = [];
  let offset = 0;
  while (offset < payload.length) {
    if (payload.length - offset < ATTRIBUTE_HEADER_SIZE) throw new FrameError(EBADMSG, 'truncated attribute header', origin);
    const tag = payload.readUInt16BE(offset);
    const length = payload.readUInt16BE(offset + 2);
    offset += ATTRIBUTE_HEADER_SIZE;
    if (offset + length > payload.length) throw new FrameError(EBADMSG, `attribute ${tag} overruns the payload`, origin);
    attributes.push({ tag, value: payload.subarray(offset, offset + length) });
    offset += length;
  }
  return attributes;
}

/** Typed, validating reads of a decoded attribute list. */
export class AttributeReader {
  constructor(private readonly attributes: Attribute[], private readonly origin: FrameOrigin = { id: 0 }, private readonly depth = 1) {}

  u32(tag: Tag): number | undefined {
    const a = this.first(tag);
    if (!a) return undefined;
    if (a.value.length !== 4) throw new FrameError(EBADMSG, `attribute ${Tag[tag]} is not a u32`, this.origin);
    return a.value.readUInt32BE(0);
  }

  u64(tag: Tag): bigint | undefined {
    const a = this.first(tag);
    if (!a) return undefined;
    if (a.value.length !== 8) throw new FrameError(EBADMSG, `attribute ${Tag[tag]} is not a u64`, this.origin);
    return a.value.readBigUInt64BE(0);
  }

  str(tag: Tag): string | undefined {
    return this.first(tag)?.value.toString('utf8');
  }

  bytes(tag: Tag): Buffer | undefined {
    return this.first(tag)?.value;
  }

  strs(tag: Tag): string[] {
    return this.attributes.filter((a) => a.tag === tag).map((a) => a.value.toString('utf8'));
  }

  nested(tag: Tag): AttributeReader[] {
    if (this.depth >= MAX_NESTING) throw new FrameError(EBADMSG, 'attributes nested too deep', this.origin);
    return this.attributes
      .filter((a) => a.tag === tag)
      .map((a) => new AttributeReader(decodeAttributes(a.value, this.origin), this.origin, this.depth + 1));
  }

  required<T>(tag: Tag, read: (tag: Tag) => T | undefined): T {
    const value = read.call(this, tag);
    if (value === undefined) throw new FrameError(EINVAL, `missing attribute ${Tag[tag]}`, this.origin);
    return value;
  }

  private first(tag: Tag): Attribute | undefined {
    return this.attributes.find((a) => a.tag === tag);
  }
}

export type DecodeEvent = { kind: 'frame'; frame: Frame } | { kind: 'error'; error: FrameError };

/**
 * Incremental stream decoder. Buffers at most one header plus MAX_PAYLOAD bytes; an oversized
 * payload is skipped as it streams past, and bytes with a wrong magic are dropped up to the next
 * "RUNV", each reported once as an error event so the caller can answer the peer.
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private skipRemaining = 0;
  private inGarbage = false;

  push(chunk: Buffer): DecodeEvent[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const events: DecodeEvent[] = [];
    for (;;) {
      if (this.skipRemaining > 0) {
        const n = Math.min(this.skipRemaining, this.buffer.length);
        this.buffer = this.buffer.subarray(n);
        this.skipRemaining -= n;
        if (this.skipRemaining > 0) return events;
      }
      const event = this.next();
      if (!event) return events;
      events.push(event);
    }
  }

  private next(): DecodeEvent | undefined {
    const garbage = this.dropUntilMagic();
    if (garbage) return garbage;
    if (this.buffer.length < HEADER_SIZE) return undefined;
    const type = this.buffer.readUInt16BE(4);
    const flags = this.buffer.readUInt16BE(6);
    const id = this.buffer.readUInt32BE(8);
    const length = this.buffer.readUInt32BE(12);
    if (length > MAX_PAYLOAD) {
      this.buffer = this.buffer.subarray(HEADER_SIZE);
      this.skipRemaining = length;
      return { kind: 'error', error: new FrameError(EMSGSIZE, `frame payload of ${length} bytes exceeds ${MAX_PAYLOAD}`, { id, type }) };
    }
    if (this.buffer.length < HEADER_SIZE + length) return undefined;
    const payload = Buffer.from(this.buffer.subarray(HEADER_SIZE, HEADER_SIZE + length));
    this.buffer = this.buffer.subarray(HEADER_SIZE + length);
    if (flags !== 0) return { kind: 'error', error: new FrameError(EBADMSG, `frame flags ${flags} are not 0`, { id, type }) };
    try {
      return { kind: 'frame', frame: { type, id, attributes: decodeAttributes(payload, { id, type }) } };
    } catch (error) {
      return { kind: 'error', error: error as FrameError };
    }
  }

  /**
   * Drops bytes before the next magic (keeping a tail that may be the start of one). Reports one
   * error per run of garbage, so a burst of noise is answered once, not per byte.
   */
  private dropUntilMagic(): DecodeEvent | undefined {
    const at = this.buffer.indexOf(MAGIC_BYTES);
    if (at === 0) {
      this.inGarbage = false;
      return undefined;
    }
    const drop = at > 0 ? at : Math.max(0, this.buffer.length - (MAGIC_BYTES.length - 1));
    if (drop === 0) return undefined;
    this.buffer = this.buffer.subarray(drop);
    if (this.inGarbage) return at > 0 ? this.dropUntilMagic() : undefined;
    this.inGarbage = true;
    return { kind: 'error', error: new FrameError(EBADMSG, 'bad magic: dropped bytes up to the next frame') };
  }
}

export const isReply = (type: number): boolean => type === MessageType.Ok || type === MessageType.Error;
