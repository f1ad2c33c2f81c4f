import { decodeFrame, type Frame } from '@kontiki/protocol';
import WebSocket from 'ws';

/** A raw `ws` client: what it receives, decoded, and how its connection ended. */
export interface RawClient {
  readonly socket: WebSocket;
  readonly frames: Frame[];
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
  const waiters: { count: number; resolve: (f: Frame[]) => void }[] = [];
  socket.on('message', (data: Buffer) => {
    frames.push(decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
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
    closed,
    framesIn: (count) =>
      frames.length >= count
        ? Promise.resolve(frames)
        : new Promise((resolve) => waiters.push({ count, resolve })),
  };
}
