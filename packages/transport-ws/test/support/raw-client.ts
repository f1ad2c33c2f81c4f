import { decodeFrame, type Frame, splitBatch } from '@kontiki/protocol';
import WebSocket from 'ws';

/** A raw `ws` client: what it receives, decoded, and how its connection ended. */
export interface RawClient {
  readonly socket: WebSocket;
  readonly frames: Frame[];
  /** WebSocket messages received (a batch is one message holding several frames). */
  readonly messages: () => number;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `count` frames have arrived. */
  framesIn(count: number): Promise<Frame[]>;
}

export async function rawClient(
  url: string,
  options: WebSocket.ClientOptions = {},
): Promise<RawClient> {
  const socket = new WebSocket(url, options);
  const frames: Frame[] = [];
  let messages = 0;
  const waiters: { count: number; resolve: (f: Frame[]) => void }[] = [];
  socket.on('message', (data: Buffer) => {
    messages++;
    // A batch counts as the envelopes in it.
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (const envelope of splitBatch(bytes)) frames.push(decodeFrame(envelope));
    for (const w of waiters.filter((w) => frames.length >= w.count)) w.resolve(frames);
  });
  socket.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    frames,
    messages: () => messages,
    closed,
    framesIn: (count) =>
      frames.length >= count
        ? Promise.resolve(frames)
        : new Promise((resolve) => waiters.push({ count, resolve })),
  };
}
