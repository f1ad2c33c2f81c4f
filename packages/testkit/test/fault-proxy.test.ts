import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultMesh, FaultProxy } from '../src/fault-proxy/index.js';

/** A server on 127.0.0.1 that keeps what each connection sent and its sockets. */
interface TestServer {
  readonly port: number;
  readonly sockets: Socket[];
  received(): Buffer;
  close(): Promise<void>;
}

async function startServer(onConnection?: (s: Socket) => void): Promise<TestServer> {
  const sockets: Socket[] = [];
  const chunks: Buffer[] = [];
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.on('data', (c: Buffer) => chunks.push(c));
    onConnection?.(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    sockets,
    received: () => Buffer.concat(chunks),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function connect(port: number): Promise<{ socket: Socket; received: () => Buffer }> {
  const chunks: Buffer[] = [];
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => Buffer.concat(chunks) };
}

/** Polls `check` until it holds; fails after `ms` (a deadline, not a sleep). */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const echo = (s: Socket) => s.on('data', (c: Buffer) => s.write(c));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function proxyTo(
  server: TestServer,
  options: Parameters<typeof FaultProxy.start>[0] = {},
): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({
    target: { host: '127.0.0.1', port: server.port },
    ...options,
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('FaultProxy', () => {
  it('passes bytes both ways unchanged and in order, even with a jittered delay per chunk', async () => {
    const server = await startServer(echo);
    cleanups.push(() => server.close());
    const proxy = await proxyTo(server, {
      seed: 3,
      forward: { delayMs: 10, jitterMs: 10 },
      backward: { delayMs: 10, jitterMs: 10 },
    });
    const client = await connect(proxy.port);
    cleanups.push(() => void client.socket.destroy());
    const sent: Buffer[] = [];
    // Many separate writes, each awaited, so that the proxy sees many chunks whose random
    // delays would reorder them if order were not kept.
    for (let i = 0; i < 200; i++) {
      const chunk = randomBytes(1 + (i % 97) * 13);
      sent.push(chunk);
      await new Promise<void>((resolve) => client.socket.write(chunk, () => resolve()));
    }
    const all = Buffer.concat(sent);
    await until(() => client.received().length >= all.length, 'the echo of every byte');
    expect(client.received().equals(all)).toBe(true);
    expect(server.received().equals(all)).toBe(true);
    expect(proxy.stats.forwardedBytes).toEqual({ forward: all.length, backward: all.length });
    expect(proxy.stats.accepted).toBe(1);
  });

  it('holds each chunk at least its delay', async () => {
    const server = await startServer(echo);
    cleanups.push(() => server.close());
    const proxy = await proxyTo(server, { forward: { delayMs: 80 }, backward: { delayMs: 40 } });
    const client = await connect(proxy.port);
    cleanups.push(() => void client.socket.destroy());
    const t0 = performance.now();
    client.socket.write('ping');
    await until(() => client.received().length === 4, 'the echo');
    // A lower bound only: a busy machine may take longer, never shorter.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(120 - 1);
  });

  it('a stall holds bytes until it ends, then delivers them in order', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const proxy = await proxyTo(server);
    const client = await connect(proxy.port);
    cleanups.push(() => void client.socket.destroy());
    client.socket.write('before-');
    await until(() => server.received().toString() === 'before-', 'bytes before the stall');
    proxy.stall(60_000, 'forward');
    client.socket.write('held-');
    client.socket.write('too');
    // The proxy has read the held bytes, yet none went through.
    await until(() => proxy.heldBytes('forward') === 8, 'the proxy to hold the bytes');
    expect(server.received().toString()).toBe('before-');
    expect(proxy.stats.forwardedBytes.forward).toBe(7);
    proxy.resume('forward');
    await until(() => server.received().length === 15, 'the held bytes');
    expect(server.received().toString()).toBe('before-held-too');
  });

  it('a timed stall lasts at least its duration and only in its direction', async () => {
    const server = await startServer(echo);
    cleanups.push(() => server.close());
    const proxy = await proxyTo(server);
    const client = await connect(proxy.port);
    cleanups.push(() => void client.socket.destroy());
    proxy.stall(150, 'backward');
    const t0 = performance.now();
    client.socket.write('x');
    // The request goes through at once: the stall holds only the answers.
    await until(() => server.received().toString() === 'x', 'the request');
    await until(() => client.received().toString() === 'x', 'the answer');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150 - 1);
  });

  it('a reset destroys both sides of every connection', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const proxy = await proxyTo(server);
    const client = await connect(proxy.port);
    let clientError: NodeJS.ErrnoException | undefined;
    client.socket.on('error', (e) => {
      clientError = e;
    });
    let clientClosed = false;
    client.socket.on('close', () => {
      clientClosed = true;
    });
    await until(() => server.sockets.length === 1, 'the server side');
    let serverClosed = false;
    server.sockets[0]?.on('close', () => {
      serverClosed = true;
    });
    expect(proxy.resetConnections()).toBe(1);
    await until(() => clientClosed && serverClosed, 'both sides to close');
    expect(clientError?.code).toBe('ECONNRESET');
    expect(proxy.connections).toBe(0);
    expect(proxy.stats.resets).toBe(1);
    // The proxy itself keeps listening: a new connection works.
    const again = await connect(proxy.port);
    cleanups.push(() => void again.socket.destroy());
    again.socket.write('new');
    await until(() => server.received().toString() === 'new', 'bytes on a new connection');
  });

  it('a one-way blackhole drops one direction while the other flows and the connection stays open', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const proxy = await proxyTo(server);
    const client = await connect(proxy.port);
    cleanups.push(() => void client.socket.destroy());
    await until(() => server.sockets.length === 1, 'the server side');
    const serverSide = server.sockets[0] as Socket;
    proxy.set('forward', { blackhole: true });
    client.socket.write('lost');
    await until(() => proxy.stats.droppedBytes.forward === 4, 'the proxy to drop the bytes');
    serverSide.write('pong');
    await until(() => client.received().toString() === 'pong', 'the other direction');
    proxy.set('forward', { blackhole: false });
    client.socket.write('kept');
    await until(() => server.received().length >= 4, 'bytes after the blackhole');
    // Byte order within a connection: had 'lost' been forwarded, it would come first.
    expect(server.received().toString()).toBe('kept');
    expect(proxy.connections).toBe(1);
    expect(client.socket.destroyed).toBe(false);
  });

  it('refuses connections until it has a target, and checks its options', async () => {
    const proxy = await FaultProxy.start();
    cleanups.push(() => proxy.close());
    const socket = createConnection({ host: '127.0.0.1', port: proxy.port });
    socket.on('error', () => {});
    let closed = false;
    socket.on('close', () => {
      closed = true;
    });
    await until(() => closed, 'the refused connection to close');
    expect(() => proxy.set('both', { delayMs: -1 })).toThrow(RangeError);
    expect(() => proxy.stall(Number.NaN)).toThrow(RangeError);
    await expect(FaultProxy.start({ host: '0.0.0.0' })).rejects.toThrow(RangeError);
  });
});

describe('FaultMesh', () => {
  it('puts one proxy on every directed link, and each link can be cut on its own', async () => {
    const ids = ['a', 'b', 'c'];
    const servers = new Map<string, TestServer>();
    for (const id of ids) {
      const s = await startServer((sock) => sock.on('data', () => sock.write(id)));
      servers.set(id, s);
      cleanups.push(() => s.close());
    }
    const mesh = await FaultMesh.start({ nodes: ids, seed: 5 });
    cleanups.push(() => mesh.close());
    for (const id of ids)
      mesh.setTarget(id, { host: '127.0.0.1', port: servers.get(id)?.port ?? 0 });
    expect(mesh.links()).toHaveLength(6);
    for (const [from, to] of mesh.links()) {
      const c = await connect(mesh.link(from, to).port);
      cleanups.push(() => void c.socket.destroy());
      c.socket.write('who');
      await until(() => c.received().length > 0, `${from} -> ${to}`);
      expect(c.received().toString()).toBe(to);
    }
    mesh.isolate('b');
    expect(mesh.link('a', 'b').faults('forward').blackhole).toBe(true);
    expect(mesh.link('b', 'c').faults('backward').blackhole).toBe(true);
    expect(mesh.link('a', 'c').faults('forward').blackhole).toBe(false);
    mesh.reconnect('b');
    expect(mesh.link('a', 'b').faults('forward').blackhole).toBe(false);
    expect(() => mesh.link('a', 'a')).toThrow(RangeError);
  });

  it('chaos stalls and resets random links until stopped', async () => {
    const ids = ['a', 'b'];
    const servers: TestServer[] = [];
    const mesh = await FaultMesh.start({ nodes: ids, seed: 9 });
    cleanups.push(() => mesh.close());
    for (const id of ids) {
      const s = await startServer(echo);
      servers.push(s);
      cleanups.push(() => s.close());
      mesh.setTarget(id, { host: '127.0.0.1', port: s.port });
    }
    const open = await connect(mesh.link('a', 'b').port);
    open.socket.on('error', () => {});
    const faults: string[] = [];
    const stop = mesh.startChaos({
      stallEveryMs: [5, 20],
      stallMs: [1, 5],
      resetEveryMs: [20, 40],
      onFault: (f) => faults.push(`${f.kind} ${f.from}->${f.to}`),
    });
    await until(
      () => faults.some((f) => f.startsWith('stall')) && faults.some((f) => f.startsWith('reset')),
      'a stall and a reset',
    );
    stop();
    const count = faults.length;
    const resets = mesh.links().reduce((n, [, , p]) => n + p.stats.resets, 0);
    expect(faults.every((f) => /^(stall|reset) (a->b|b->a)$/.test(f))).toBe(true);
    expect(resets).toBeLessThanOrEqual(faults.filter((f) => f.startsWith('reset')).length);
    // Stopped means stopped: a fresh connection is left alone.
    const c = await connect(mesh.link('b', 'a').port);
    cleanups.push(() => void c.socket.destroy());
    c.socket.write('still here');
    await until(() => c.received().toString() === 'still here', 'an echo after the chaos');
    expect(faults.length).toBe(count);
  });

  it('chaos with openLinksOnly faults only links that carry connections', async () => {
    const ids = ['a', 'b', 'c'];
    const mesh = await FaultMesh.start({ nodes: ids, seed: 3 });
    cleanups.push(() => mesh.close());
    for (const id of ids) {
      const s = await startServer(echo);
      cleanups.push(() => s.close());
      mesh.setTarget(id, { host: '127.0.0.1', port: s.port });
    }
    // Only a -> c carries a connection.
    const c = await connect(mesh.link('a', 'c').port);
    c.socket.on('error', () => {});
    cleanups.push(() => void c.socket.destroy());
    await until(() => mesh.link('a', 'c').connections === 1, 'the connection a -> c');
    const faults: string[] = [];
    const onFault = (f: { kind: string; from: string; to: string }) =>
      faults.push(`${f.kind} ${f.from}->${f.to}`);
    mesh.startChaos({ stallEveryMs: [1, 3], stallMs: [1, 2], openLinksOnly: true, onFault });
    await until(() => faults.length >= 20, 'twenty stalls');
    mesh.stopChaos();
    expect(new Set(faults)).toEqual(new Set(['stall a->c']));
    // A reset picks it too (and closes it: the next one may go anywhere).
    faults.length = 0;
    mesh.startChaos({ resetEveryMs: [1, 3], openLinksOnly: true, onFault });
    await until(() => faults.length >= 1, 'a reset');
    mesh.stopChaos();
    expect(faults[0]).toBe('reset a->c');
    expect(mesh.link('a', 'c').stats.resets).toBe(1);
  });
});
