import assert from 'node:assert/strict';
import { AttributeReader, FrameDecoder, FrameError, attr, decodeAttributes, encodeAttributes, encodeFrame } from '../../../src/agent/codec';
import { Errno, HEADER_SIZE, MAX_PAYLOAD, MessageType, Tag } from '../../../src/agent/protocol';

function header(fields: { type?: number; flags?: number; id?: number; length: number; magic?: number }): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.writeUInt32BE(fields.magic ?? 0x52554e56, 0);
  b.writeUInt16BE(fields.type ?? MessageType.Hello, 4);
  b.writeUInt16BE(fields.flags ?? 0, 6);
  b.writeUInt32BE(fields.id ?? 1, 8);
  b.writeUInt32BE(fields.length, 12);
  return b;
}

describe('agent frame codec', () => {
  const frame = {
    type: MessageType.StartProcess,
    id: 7,
    attributes: [attr.str(Tag.Arg, 'sh'), attr.str(Tag.Arg, '-c'), attr.u32(Tag.Uid, 1000), attr.u64(Tag.RlimitSoft, 1n << 40n), attr.bytes(Tag.Data, Buffer.alloc(0))],
  };

  it('round-trips a frame with repeated, integer and empty attributes', () => {
    const [event] = new FrameDecoder().push(encodeFrame(frame));
    assert.equal(event.kind, 'frame');
    if (event.kind !== 'frame') return;
    const reader = new AttributeReader(event.frame.attributes);
    assert.deepEqual([event.frame.type, event.frame.id], [MessageType.StartProcess, 7]);
    assert.deepEqual(reader.strs(Tag.Arg), ['sh', '-c']);
    assert.equal(reader.u32(Tag.Uid), 1000);
    assert.equal(reader.u64(Tag.RlimitSoft), 1n << 40n);
    assert.equal(reader.bytes(Tag.Data)?.length, 0);
  });

  it('reassembles frames split at every byte boundary', () => {
    const bytes = Buffer.concat([encodeFrame(frame), encodeFrame({ ...frame, id: 8 })]);
    const decoder = new FrameDecoder();
    const ids = [...bytes].flatMap((byte) => decoder.push(Buffer.from([byte]))).map((e) => (e.kind === 'frame' ? e.frame.id : -1));
    assert.deepEqual(ids, [7, 8]);
  });

  it('round-trips nested attributes', () => {
    const nested = attr.nested(Tag.Rlimit, [attr.str(Tag.RlimitType, 'RLIMIT_NOFILE'), attr.u64(Tag.RlimitHard, 20000n)]);
    const [rlimit] = new AttributeReader(decodeAttributes(encodeAttributes([nested]))).nested(Tag.Rlimit);
    assert.equal(rlimit.str(Tag.RlimitType), 'RLIMIT_NOFILE');
    assert.equal(rlimit.u64(Tag.RlimitHard), 20000n);
  });

  it('refuses to encode a payload over the limit', () => {
    const big = Array.from({ length: 3 }, () => attr.bytes(Tag.Data, Buffer.alloc(30000)));
    assert.throws(() => encodeFrame({ type: MessageType.Stdin, id: 1, attributes: big }), RangeError);
  });

  describe('malformed input', () => {
    const errorsOf = (bytes: Buffer) => new FrameDecoder().push(bytes).flatMap((e) => (e.kind === 'error' ? [e.error] : []));

    it('answers an oversized frame with EMSGSIZE, its id and type, skips the payload without buffering it, and decodes the next frame', () => {
      const decoder = new FrameDecoder();
      const events = [
        ...decoder.push(header({ type: MessageType.Error, id: 9, length: MAX_PAYLOAD + 1 })),
        ...decoder.push(Buffer.alloc(MAX_PAYLOAD + 1, 0x41)),
        ...decoder.push(encodeFrame({ type: MessageType.Hello, id: 10, attributes: [] })),
      ];
      assert.deepEqual(events.map((e) => (e.kind === 'error' ? [e.error.errno, e.error.id, e.error.type] : ['frame', e.frame.id])), [[Errno.EMSGSIZE, 9, MessageType.Error], ['frame', 10]]);
    });

    it('reports bad magic without a frame type: no header was read', () => {
      const [error] = errorsOf(Buffer.from('noise'));
      assert.deepEqual([error.errno, error.id, error.type], [Errno.EBADMSG, 0, undefined]);
    });

    it('answers bad magic once per run of garbage and resynchronises on the next frame', () => {
      const decoder = new FrameDecoder();
      const events = [...decoder.push(Buffer.from('garbage bytes here')), ...decoder.push(Buffer.from('more')), ...decoder.push(encodeFrame({ type: MessageType.Hello, id: 3, attributes: [] }))];
      assert.deepEqual(events.map((e) => (e.kind === 'error' ? e.error.errno : e.frame.id)), [Errno.EBADMSG, 3]);
    });

    it('rejects non-zero flags with EBADMSG echoing the id and type', () => {
      const [error] = errorsOf(header({ type: MessageType.Ok, flags: 1, id: 4, length: 0 }));
      assert.deepEqual([error.errno, error.id, error.type], [Errno.EBADMSG, 4, MessageType.Ok]);
    });

    it('rejects an attribute that overruns the payload, naming the frame id and type', () => {
      const payload = Buffer.from([0, Tag.Arg, 0, 10, 0x61]);
      const [error] = errorsOf(Buffer.concat([header({ type: MessageType.Error, id: 5, length: payload.length }), payload]));
      assert.deepEqual([error.errno, error.id, error.type], [Errno.EBADMSG, 5, MessageType.Error]);
    });

    it('rejects a truncated attribute header', () => {
      const payload = Buffer.from([0, 1, 0]);
      const [error] = errorsOf(Buffer.concat([header({ length: payload.length }), payload]));
      assert.equal(error.errno, Errno.EBADMSG);
    });

    it('rejects a u32 or u64 of the wrong size', () => {
      const reader = new AttributeReader([attr.bytes(Tag.Uid, Buffer.alloc(3)), attr.bytes(Tag.RlimitSoft, Buffer.alloc(4))]);
      assert.throws(() => reader.u32(Tag.Uid), (e: FrameError) => e.errno === Errno.EBADMSG);
      assert.throws(() => reader.u64(Tag.RlimitSoft), (e: FrameError) => e.errno === Errno.EBADMSG);
    });

    it('rejects nesting deeper than two levels, naming the frame the reader was given', () => {
      const inner = attr.nested(Tag.Rlimit, [attr.nested(Tag.Rlimit, [])]);
      const [outer] = new AttributeReader(decodeAttributes(encodeAttributes([inner])), { id: 6, type: MessageType.StartProcess }).nested(Tag.Rlimit);
      assert.throws(() => outer.nested(Tag.Rlimit), (e: FrameError) => e.errno === Errno.EBADMSG && e.id === 6 && e.type === MessageType.StartProcess);
    });

    it('names a missing required attribute with EINVAL and the frame it is missing from', () => {
      const reader = new AttributeReader([], { id: 12, type: MessageType.Signal });
      assert.throws(() => reader.required(Tag.ContainerId, reader.str), (e: FrameError) => e.errno === Errno.EINVAL && /CONTAINER_ID|ContainerId/.test(e.message) && e.id === 12 && e.type === MessageType.Signal);
    });
  });
});
