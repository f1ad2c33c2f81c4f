import { BadRequestError } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeBatch,
  encodeHello,
  encodeRequestFrame,
  encodeResponseFrame,
  FrameBatcher,
  splitBatch,
  wire,
} from '../src/index.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));
const frame = (callId: number) =>
  encodeResponseFrame(callId, 'timeoutNow', { term: callId, success: true });

describe('batches of envelopes', () => {
  it('split back into the envelopes they were made of, in order, without copying', () => {
    const envelopes = [frame(1), encodeHello(2, 'secret'), frame(300), new Uint8Array(200).fill(8)];
    const batch = encodeBatch(envelopes);
    const parts = splitBatch(batch);
    expect(parts).toEqual(envelopes);
    expect(parts.every((p) => p.buffer === batch.buffer)).toBe(true);
    // The generated code reads the same thing: the format is raft.proto's `Batch`.
    expect(wire.Batch.decode(batch).envelopes).toEqual(envelopes);
  });

  it('a bare envelope is a message of its own, whatever it holds', () => {
    for (const bytes of [
      frame(1),
      encodeHello(1, ''),
      encodeRequestFrame(0, 'timeoutNow', {
        groupId: 'g',
        from: 'a',
        to: 'b',
        term: 1,
      }),
    ]) {
      expect(bytes[0]).not.toBe(0x0a);
      expect(splitBatch(bytes)).toEqual([bytes]);
    }
  });

  it('a damaged batch is refused with BAD_REQUEST, not read past its end', () => {
    const batch = encodeBatch([frame(1), frame(2)]);
    expect(() => splitBatch(batch.subarray(0, batch.length - 1))).toThrow(BadRequestError);
    const foreign = batch.slice();
    foreign[(batch[1] as number) + 2] = 0x12; // the second envelope's tag: another field
    expect(() => splitBatch(foreign)).toThrow(/malformed batch/);
    expect(() => splitBatch(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(
      BadRequestError,
    );
  });
});

describe('FrameBatcher', () => {
  it('sends the frames of one turn as one message, a lone frame bare, and keeps their order', async () => {
    const sent: Uint8Array[] = [];
    const batcher = new FrameBatcher({ write: (m) => void sent.push(m) });
    batcher.push(frame(1));
    batcher.push(frame(2));
    batcher.push(frame(3));
    expect(sent).toHaveLength(0);
    expect(batcher.queuedBytes).toBe(frame(1).length * 3);
    await turn();
    batcher.push(frame(4));
    await turn();
    expect(sent).toHaveLength(2);
    expect(splitBatch(sent[0] as Uint8Array).map((b) => decodeFrame(b))).toMatchObject([
      { callId: 1 },
      { callId: 2 },
      { callId: 3 },
    ]);
    expect(sent[1]).toEqual(frame(4));
  });

  it('sends a big frame at once, alone, after what was queued before it', () => {
    const sent: Uint8Array[] = [];
    const batcher = new FrameBatcher({ write: (m) => void sent.push(m), maxBatchBytes: 1000 });
    batcher.push(frame(1));
    const big = new Uint8Array(1000).fill(1);
    batcher.push(big);
    expect(sent).toEqual([frame(1), big]);
    expect(batcher.queuedBytes).toBe(0);
  });

  it('sends a batch once it is full, without waiting for the end of the turn', () => {
    const sent: number[] = [];
    const batcher = new FrameBatcher({
      write: (_m, frameBytes) => void sent.push(frameBytes),
      maxBatchBytes: 100,
    });
    const one = frame(1);
    const fit = Math.floor(100 / one.length);
    for (let i = 0; i <= fit; i++) batcher.push(one);
    expect(sent).toEqual([fit * one.length]);
    batcher.discard();
    expect(batcher.queuedBytes).toBe(0);
  });
});
