import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Rng } from '../sim/rng.js';

/** `forward`: bytes from the client to the target; `backward`: the target's answers. */
export type Direction = 'forward' | 'backward';

/** The faults of one direction of a proxy; every field can be changed while it runs. */
export interface DirectionFaults {
  /** Each chunk is held `delayMs` ± `jitterMs` (uniform, never below 0). Order is kept. */
  readonly delayMs: number;
  readonly jitterMs: number;
  /**
   * Bytes read in this direction are dropped while the connection stays open: a half-open
   * link. Decided per chunk when it is read, so chunks already held still go through.
   */
  readonly blackhole: boolean;
}

export interface ProxyTarget {
  readonly host: string;
  readonly port: number;
}

export interface FaultProxyOptions {
  /** Where connections go; may be set later with `setTarget` (connections are refused until then). */
  readonly target?: ProxyTarget;
  /** Address to listen on: loopback only (default 127.0.0.1). */
  readonly host?: string;
  /** Port to listen on (default 0: any free port). */
  readonly port?: number;
  /** Seed of the delay jitter and of any random choice (default 1). */
  readonly seed?: number;
  readonly forward?: Partial<DirectionFaults>;
  readonly backward?: Partial<DirectionFaults>;
  /**
   * Bytes held per direction of a connection beyond which reading from the source pauses
   * (default 16 MiB), so that a long stall cannot grow memory without bound.
   */
  readonly maxHeldBytes?: number;
}

export interface FaultProxyStats {
  /** Connections accepted from clients. */
  accepted: number;
  /** Connections destroyed by `resetConnections`. */
  resets: number;
  /** Bytes delivered per direction. */
  forwardedBytes: Record<Direction, number>;
  /** Bytes dropped by a blackhole per direction. */
  droppedBytes: Record<Direction, number>;
}

const NO_FAULTS: DirectionFaults = { delayMs: 0, jitterMs: 0, blackhole: false };

function checkFaults(faults: Partial<DirectionFaults>): void {
  for (const name of ['delayMs', 'jitterMs'] as const) {
    const v = faults[name];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
      throw new RangeError(`${name} must be a finite number >= 0, got ${String(v)}`);
    }
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * One direction of one connection: chunks wait in a queue until their delivery time, which
 * never precedes the previous chunk's (a TCP byte stream does not reorder), nor the end of a
 * stall.
 */
class Pipe {
  private readonly queue: Array<{ at: number; chunk: Buffer }> = [];
  held = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastAt = 0;
  private closed = false;
  private ending = false;

  constructor(
    private readonly proxy: FaultProxy,
    readonly direction: Direction,
    private readonly source: Socket,
    private readonly sink: Socket,
  ) {
    source.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    const faults = this.proxy.faults(this.direction);
    if (faults.blackhole) {
      this.proxy.stats.droppedBytes[this.direction] += chunk.byteLength;
      return;
    }
    const jitter = faults.jitterMs > 0 ? (this.proxy.random() * 2 - 1) * faults.jitterMs : 0;
    const at = Math.max(performance.now() + Math.max(0, faults.delayMs + jitter), this.lastAt);
    this.lastAt = at;
    this.queue.push({ at, chunk });
    this.held += chunk.byteLength;
    if (this.held > this.proxy.maxHeldBytes) this.source.pause();
    this.pump();
  }

  /** Delivers every chunk that is due, then arms a timer for the next one. */
  pump(): void {
    if (this.closed) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const stalledUntil = this.proxy.stalledUntil(this.direction);
    for (let i = 0; i < 1_000_000; i++) {
      const head = this.queue[0];
      if (!head) break;
      const due = Math.max(head.at, stalledUntil);
      const wait = due - performance.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, Math.ceil(wait));
        return;
      }
      this.queue.shift();
      this.held -= head.chunk.byteLength;
      this.proxy.stats.forwardedBytes[this.direction] += head.chunk.byteLength;
      if (!this.sink.destroyed) this.sink.write(head.chunk);
    }
    if (this.ending && this.queue.length === 0 && !this.sink.destroyed) this.sink.end();
    if (this.held <= this.proxy.maxHeldBytes / 2 && this.source.isPaused()) this.source.resume();
  }

  /** The source ended: end the sink once everything held was delivered. */
  endWhenDrained(): void {
    this.ending = true;
    this.pump();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.held = 0;
  }
}

interface Connection {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly pipes: readonly Pipe[];
}

/**
 * A TCP proxy on loopback that injects faults into the byte streams it forwards: per
 * direction, a delay per chunk with jitter (order within a connection is kept), stalls
 * (forwarding pauses for a while, bytes are held), blackholes (bytes dropped while the
 * connection stays open) and resets (both sides of every connection destroyed with RST).
 * Everything can change while connections are open; jitter comes from a seeded generator.
 *
 * @example
 * ```ts
 * const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: 7001 } });
 * proxy.set('both', { delayMs: 50, jitterMs: 50 });
 * proxy.stall(1000, 'backward'); // answers held for a second
 * proxy.resetConnections();
 * await proxy.close();
 * ```
 */
export class FaultProxy {
  readonly stats: FaultProxyStats = {
    accepted: 0,
    resets: 0,
    forwardedBytes: { forward: 0, backward: 0 },
    droppedBytes: { forward: 0, backward: 0 },
  };
  readonly maxHeldBytes: number;
  private readonly server: Server;
  private readonly rng: Rng;
  private readonly connectionSet = new Set<Connection>();
  private readonly faultsBy: Record<Direction, DirectionFaults>;
  private readonly stallEnd: Record<Direction, number> = { forward: 0, backward: 0 };
  private target: ProxyTarget | undefined;
  private closing = false;

  private constructor(server: Server, options: FaultProxyOptions) {
    this.server = server;
    this.rng = new Rng(options.seed ?? 1);
    this.target = options.target;
    this.maxHeldBytes = options.maxHeldBytes ?? 16 * 1024 * 1024;
    this.faultsBy = {
      forward: { ...NO_FAULTS, ...options.forward },
      backward: { ...NO_FAULTS, ...options.backward },
    };
  }

  /** Listens on loopback and forwards every connection to the target. */
  static async start(options: FaultProxyOptions = {}): Promise<FaultProxy> {
    const host = options.host ?? '127.0.0.1';
    if (!isLoopback(host)) throw new RangeError(`the proxy listens on loopback only, not ${host}`);
    checkFaults(options.forward ?? {});
    checkFaults(options.backward ?? {});
    const server = createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true });
    const proxy = new FaultProxy(server, options);
    server.on('connection', (socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get host(): string {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.address : '127.0.0.1';
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** `host:port` to dial instead of the target. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Open connections. */
  get connections(): number {
    return this.connectionSet.size;
  }

  /** Bytes read from one side and not yet delivered to the other, in `direction`. */
  heldBytes(direction: Direction): number {
    let n = 0;
    for (const c of this.connectionSet)
      for (const p of c.pipes) if (p.direction === direction) n += p.held;
    return n;
  }

  /** Where new connections go from now on (open ones keep theirs). */
  setTarget(target: ProxyTarget): void {
    this.target = target;
  }

  /** The faults of `direction` now. */
  faults(direction: Direction): DirectionFaults {
    return this.faultsBy[direction];
  }

  /** Changes the faults of one or both directions; fields left out keep their value. */
  set(direction: Direction | 'both', faults: Partial<DirectionFaults>): void {
    checkFaults(faults);
    for (const d of directions(direction)) this.faultsBy[d] = { ...this.faultsBy[d], ...faults };
  }

  /** Removes every fault and ends any stall. */
  heal(): void {
    this.faultsBy.forward = { ...NO_FAULTS };
    this.faultsBy.backward = { ...NO_FAULTS };
    this.resume('both');
  }

  /**
   * Pauses forwarding for `ms` from now (bytes are held, then delivered in order). A stall
   * already running longer is kept.
   */
  stall(ms: number, direction: Direction | 'both' = 'both'): void {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError('a stall needs ms >= 0');
    const until = performance.now() + ms;
    for (const d of directions(direction)) this.stallEnd[d] = Math.max(this.stallEnd[d], until);
    this.repump();
  }

  /** Ends a stall now. */
  resume(direction: Direction | 'both' = 'both'): void {
    for (const d of directions(direction)) this.stallEnd[d] = 0;
    this.repump();
  }

  /** When the stall of `direction` ends (0 or a past time when none). */
  stalledUntil(direction: Direction): number {
    return this.stallEnd[direction];
  }

  /**
   * Destroys every open connection on both sides with a TCP RST, as a middlebox that drops
   * its state does. Returns how many it destroyed.
   */
  resetConnections(): number {
    const all = [...this.connectionSet];
    for (const c of all) this.destroy(c, true);
    this.stats.resets += all.length;
    return all.length;
  }

  /** A number in [0, 1) from the proxy's seeded generator. */
  random(): number {
    return this.rng.next();
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const c of [...this.connectionSet]) this.destroy(c, false);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const target = this.target;
    if (this.closing || !target) {
      client.destroy();
      return;
    }
    this.stats.accepted++;
    client.setNoDelay(true);
    const upstream = createConnection({
      host: target.host,
      port: target.port,
      noDelay: true,
      allowHalfOpen: true,
    });
    const forward = new Pipe(this, 'forward', client, upstream);
    const backward = new Pipe(this, 'backward', upstream, client);
    const conn: Connection = { client, upstream, pipes: [forward, backward] };
    this.connectionSet.add(conn);
    // A half-closed side is passed on once what was held for it has gone through.
    client.on('end', () => forward.endWhenDrained());
    upstream.on('end', () => backward.endWhenDrained());
    const gone = () => this.destroy(conn, false);
    client.on('error', gone);
    upstream.on('error', gone);
    client.on('close', gone);
    upstream.on('close', gone);
    upstream.once('connect', () => client.resume());
  }

  private destroy(conn: Connection, reset: boolean): void {
    if (!this.connectionSet.delete(conn)) return;
    for (const p of conn.pipes) p.close();
    for (const s of [conn.client, conn.upstream]) {
      if (s.destroyed) continue;
      if (reset && s.readyState === 'open') s.resetAndDestroy();
      else s.destroy();
    }
  }

  private repump(): void {
    for (const c of this.connectionSet) for (const p of c.pipes) p.pump();
  }
}

function directions(d: Direction | 'both'): Direction[] {
  return d === 'both' ? ['forward', 'backward'] : [d];
}
