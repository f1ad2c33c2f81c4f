import { EntryType } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { laneOf } from '../src/index.js';

const env = { groupId: 'g', from: 'a', to: 'b', term: 3 };

describe('laneOf: which connection a call travels on', () => {
  it('entries and snapshot chunks go as data; empty AppendEntries, votes and reads as control; host beats alone', () => {
    const entry = { index: 1, term: 3, type: EntryType.Data, data: new Uint8Array(1) };
    const append = { ...env, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0 };
    expect(laneOf('appendEntries', { ...append, entries: [entry] })).toBe('data');
    expect(laneOf('appendEntries', { ...append, entries: [] })).toBe('control');
    expect(
      laneOf('installSnapshot', {
        ...env,
        meta: { lastIncludedIndex: 1, lastIncludedTerm: 1, configuration: { voters: ['a'] } },
        offset: 0,
        data: new Uint8Array(0),
        done: true,
      }),
    ).toBe('data');
    expect(laneOf('requestVote', { ...env, preVote: true, lastLogIndex: 0, lastLogTerm: 0 })).toBe(
      'control',
    );
    expect(laneOf('readIndex', env)).toBe('control');
    expect(
      laneOf('hostHeartbeat', {
        ...env,
        groupId: '',
        term: 0,
        offers: [],
        woken: [],
        quiescedCount: 0,
        quiescedDigest: 0,
      }),
    ).toBe('host');
  });
});
