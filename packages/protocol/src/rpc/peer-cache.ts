import { ShutdownError } from '@kontiki/core';

/** What a PeerCache holds: one connection to one peer. */
export interface CachedPeer {
  /** Calls waiting for an answer on this connection. */
  readonly pendingCalls: number;
  close(error: ShutdownError): void;
}

/**
 * One connection per peer address, reused, and closed once it has carried no call for
 * `idleMs`. A peer removed from every group this endpoint serves (a membership change) is
 * then forgotten instead of being kept, with its keep-alive pings, for the endpoint's life.
 * Sweeping happens on use (no timer of its own), at most every `idleMs / 4`.
 */
export class PeerCache<P extends CachedPeer> {
  private readonly peers = new Map<string, { peer: P; lastUsed: number }>();
  private lastSweep = 0;

  constructor(
    private readonly idleMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The connection to `address`, created on first use. */
  get(address: string, create: () => P): P {
    const t = this.now();
    if (t - this.lastSweep >= this.idleMs / 4) this.sweep(t);
    let entry = this.peers.get(address);
    if (entry === undefined) {
      entry = { peer: create(), lastUsed: t };
      this.peers.set(address, entry);
    }
    entry.lastUsed = t;
    return entry.peer;
  }

  get size(): number {
    return this.peers.size;
  }

  /** Closes every connection. */
  closeAll(error: ShutdownError): void {
    for (const { peer } of this.peers.values()) peer.close(error);
    this.peers.clear();
  }

  private sweep(t: number): void {
    this.lastSweep = t;
    for (const [address, entry] of this.peers) {
      if (t - entry.lastUsed >= this.idleMs && entry.peer.pendingCalls === 0) {
        this.peers.delete(address);
        entry.peer.close(
          new ShutdownError(`connection to ${address} closed after ${this.idleMs} ms idle`),
        );
      }
    }
  }
}
