import {
  ErrorCode,
  type HostedGroup,
  type HostHeartbeatRequest,
  InvalidOptionError,
  type QuiesceOffer,
  RaftError,
  RaftHost,
  RaftNode,
} from '@kontiki/core';
import { electionAdmissionOf } from '@kontiki/core/internal';
import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';
import { MemoryNetwork } from '@kontiki/transport-memory';
import { afterEach, describe, expect, it } from 'vitest';

/** A group that accepts every offer and records what the host tells it. */
class RecordingGroup implements HostedGroup {
  readonly woken: string[] = [];
  readonly offers: QuiesceOffer[] = [];
  constructor(
    readonly groupId: string,
    private readonly accept = true,
  ) {}
  acceptQuiesce(offer: QuiesceOffer): boolean {
    this.offers.push(offer);
    return this.accept;
  }
  offerAnswered(): void {}
  wake(reason: string): void {
    this.woken.push(reason);
  }
  peerSilent(): void {}
  peerBack(): void {}
}

const hosts: RaftHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.close();
});

function setup(authenticated: boolean) {
  const network = new MemoryNetwork({ authenticated });
  const host = new RaftHost({ transport: network.endpoint('n1'), peerId: 'n1' });
  hosts.push(host);
  const group = new RecordingGroup('g1');
  host.register(group, ['n2']);
  return { network, host, group, caller: network.endpoint('n2') };
}

function beat(over: Partial<HostHeartbeatRequest> = {}): HostHeartbeatRequest {
  return {
    groupId: '',
    from: 'n2',
    to: 'n1',
    term: 0,
    offers: [],
    woken: [],
    quiescedCount: 0,
    quiescedDigest: 0,
    ...over,
  };
}

const offer = { groupId: 'g1', term: 3, lastIndex: 10, lastTerm: 3, commitIndex: 10 };

describe('RaftHost: the node-level heartbeat', () => {
  it('an offer reaches its group; the digests then disagree until the full list settles it', async () => {
    const { caller, group } = setup(false);
    const first = await caller.call('hostHeartbeat', beat({ offers: [offer] }));
    expect(first).toEqual({ term: 0, accepted: ['g1'], mismatch: false, wake: [] });
    expect(group.offers).toEqual([offer]);
    // The sender claims nothing quiesced, the receiver has g1 under it: mismatch.
    const second = await caller.call('hostHeartbeat', beat());
    expect(second.mismatch).toBe(true);
    // The full list (empty) says the sender no longer has g1 quiesced: the group wakes.
    const third = await caller.call('hostHeartbeat', beat({ full: [] }));
    expect(third).toEqual({ term: 0, accepted: [], mismatch: false, wake: [] });
    expect(group.woken).toHaveLength(1);
  });

  it('a group in the sender list that the receiver has not quiesced is named to be woken', async () => {
    const { caller } = setup(false);
    const r = await caller.call(
      'hostHeartbeat',
      beat({ quiescedCount: 1, quiescedDigest: 5, full: [{ groupId: 'g1', term: 3 }] }),
    );
    expect(r.wake).toEqual(['g1']);
  });

  it('a beat from an endpoint no group here knows is refused on an unauthenticated network', async () => {
    const { network, group } = setup(false);
    const stranger = network.endpoint('n9');
    const e = await stranger
      .call('hostHeartbeat', beat({ from: 'n9', offers: [offer] }))
      .catch((x: unknown) => x);
    expect(RaftError.is(e, ErrorCode.NOT_MEMBER)).toBe(true);
    expect(group.offers).toEqual([]);
  });

  it('an authenticated endpoint is heard even before a group names it', async () => {
    const { network } = setup(true);
    const r = await network.endpoint('n9').call('hostHeartbeat', beat({ from: 'n9' }));
    expect(r.mismatch).toBe(false);
  });

  it('malformed beats are refused with BAD_REQUEST and change nothing', async () => {
    const { caller, group } = setup(false);
    const bad: Partial<HostHeartbeatRequest>[] = [
      { from: 'n1' },
      { offers: [{ ...offer, commitIndex: 11 }] },
      { offers: [{ ...offer, lastTerm: 4 }] },
      { quiescedDigest: -1 },
      { quiescedCount: 1.5 },
      { woken: [{ groupId: 'g1', term: Number.NaN }] },
    ];
    for (const b of bad) {
      const e = await caller.call('hostHeartbeat', beat(b)).catch((x: unknown) => x);
      expect(RaftError.is(e, ErrorCode.BAD_REQUEST), JSON.stringify(b)).toBe(true);
    }
    expect(group.offers).toEqual([]);
    expect(group.woken).toEqual([]);
  });

  it('the host group serves no group RPC', async () => {
    const { caller } = setup(false);
    const e = await caller
      .call('readIndex', { groupId: '', from: 'n2', to: 'n1', term: 1 })
      .catch((x: unknown) => x);
    expect(RaftError.is(e, ErrorCode.BAD_REQUEST)).toBe(true);
  });

  it('wrong options are InvalidOptionError, for the host and for a node that names it', () => {
    const network = new MemoryNetwork();
    const transport = network.endpoint('n1');
    expect(
      () =>
        new RaftHost({ transport, peerId: 'n1', electionTimeoutMs: 100, heartbeatIntervalMs: 80 }),
    ).toThrow(InvalidOptionError);
    expect(() => new RaftHost({ transport, peerId: '' })).toThrow(InvalidOptionError);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new RaftHost({ transport, peerId: 'n1', maxConcurrentElections: bad })).toThrow(
        InvalidOptionError,
      );
    }
    // A refused host changed nothing of the endpoint's election slots.
    expect(electionAdmissionOf(transport).limit).toBe(128);
    const host = new RaftHost({ transport, peerId: 'n1', maxConcurrentElections: 16 });
    expect(electionAdmissionOf(transport).limit).toBe(16);
    hosts.push(host);
    const node = (peerId: string, t = transport) =>
      new RaftNode({
        groupId: 'g',
        peerId,
        transport: t,
        host,
        logStorage: new MemoryLogStorage(),
        metaStorage: new MemoryMetaStorage(),
        stateMachine: { onApply: (es) => es.map(() => undefined) },
      });
    expect(() => node('n2')).toThrow(InvalidOptionError);
    expect(() => node('n1', network.endpoint('n3'))).toThrow(InvalidOptionError);
    expect(() => node('n1')).not.toThrow();
  });
});
