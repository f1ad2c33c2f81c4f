import { ShutdownError } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { PeerCache } from '../src/index.js';

class FakePeer {
  pendingCalls = 0;
  closed: ShutdownError | undefined;
  close(error: ShutdownError): void {
    this.closed = error;
  }
}

describe('PeerCache', () => {
  it('reuses one connection per address', () => {
    let t = 0;
    const cache = new PeerCache<FakePeer>(1000, () => t);
    const a = cache.get('a', () => new FakePeer());
    t = 10;
    expect(cache.get('a', () => new FakePeer())).toBe(a);
    expect(cache.size).toBe(1);
  });

  it('closes a connection that carried no call for the idle time, and makes a new one on use', () => {
    let t = 0;
    const cache = new PeerCache<FakePeer>(1000, () => t);
    const removed = cache.get('removed-peer', () => new FakePeer());
    const live = cache.get('live-peer', () => new FakePeer());
    for (t = 100; t <= 1500; t += 100) cache.get('live-peer', () => new FakePeer());
    expect(removed.closed).toBeInstanceOf(ShutdownError);
    expect(live.closed).toBeUndefined();
    expect(cache.size).toBe(1);
    const again = cache.get('removed-peer', () => new FakePeer());
    expect(again).not.toBe(removed);
  });

  it('keeps an idle connection that still has calls waiting', () => {
    let t = 0;
    const cache = new PeerCache<FakePeer>(1000, () => t);
    const slow = cache.get('slow', () => new FakePeer());
    slow.pendingCalls = 1;
    for (t = 100; t <= 3000; t += 100) cache.get('other', () => new FakePeer());
    expect(slow.closed).toBeUndefined();
    slow.pendingCalls = 0;
    t += 1000;
    cache.get('other', () => new FakePeer());
    expect(slow.closed).toBeInstanceOf(ShutdownError);
  });

  it('closeAll closes everything', () => {
    const cache = new PeerCache<FakePeer>(1000);
    const a = cache.get('a', () => new FakePeer());
    const b = cache.get('b', () => new FakePeer());
    cache.closeAll(new ShutdownError('bye'));
    expect(a.closed?.message).toBe('bye');
    expect(b.closed?.message).toBe('bye');
    expect(cache.size).toBe(0);
  });
});
