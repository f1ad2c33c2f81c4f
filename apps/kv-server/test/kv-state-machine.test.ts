import type { CommittedEntry } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, type KvCommand, paddedPutCommand } from '../src/commands.js';
import { KvStateMachine } from '../src/kv-state-machine.js';

function entries(...commands: Array<KvCommand | Uint8Array>): CommittedEntry[] {
  return commands.map((c, i) => ({
    index: i + 1,
    term: 1,
    data: c instanceof Uint8Array ? c : encodeCommand(c),
  }));
}

describe('commands in log entries', () => {
  it('decode to what was encoded, for every kind of command', () => {
    const commands: KvCommand[] = [
      { op: 'put', key: 'a/b c', value: 'ünïcødé "quoted"\n' },
      { op: 'delete', key: 'k' },
      { op: 'cas', key: 'k', expected: null, value: 'v' },
      { op: 'cas', key: 'k', expected: 'old', value: '' },
    ];
    for (const c of commands) expect(decodeCommand(encodeCommand(c))).toEqual(c);
  });

  it('say what is wrong with data that is not a command', () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(decodeCommand(new Uint8Array([0xff, 0xfe]))).toBe('not UTF-8 JSON');
    expect(decodeCommand(bytes('[1]'))).toBe('no key');
    expect(decodeCommand(bytes('{"op":"put","k":"a"}'))).toBe('put without value');
    expect(decodeCommand(bytes('{"op":"drop","k":"a"}'))).toBe('unknown op "drop"');
    expect(decodeCommand(bytes('{"op":"cas","k":"a","e":1,"v":"x"}'))).toBe(
      'cas without expected value',
    );
  });

  it('pad a put to exactly the requested size (benchmark payloads)', () => {
    for (const size of [64, 100, 1000]) {
      const data = paddedPutCommand('bench', size);
      expect(data.byteLength).toBe(size);
      expect(decodeCommand(data)).toMatchObject({ op: 'put', key: 'bench' });
    }
    expect(() => paddedPutCommand('bench', 10)).toThrow(RangeError);
  });
});

describe('the key-value state machine', () => {
  it('returns each command its result: previous values, CAS success or failure', () => {
    const sm = new KvStateMachine();
    const results = sm.onApply(
      entries(
        { op: 'put', key: 'a', value: '1' },
        { op: 'put', key: 'a', value: '2' },
        { op: 'cas', key: 'a', expected: '1', value: 'x' },
        { op: 'cas', key: 'a', expected: '2', value: '3' },
        { op: 'cas', key: 'b', expected: null, value: 'new' },
        { op: 'cas', key: 'b', expected: null, value: 'again' },
        { op: 'delete', key: 'a' },
        { op: 'delete', key: 'a' },
      ),
    );
    expect(results).toEqual([
      { op: 'put', prev: null },
      { op: 'put', prev: '1' },
      { op: 'cas', succeeded: false, prev: '2' },
      { op: 'cas', succeeded: true, prev: '2' },
      { op: 'cas', succeeded: true, prev: null },
      { op: 'cas', succeeded: false, prev: 'new' },
      { op: 'delete', prev: '3' },
      { op: 'delete', prev: null },
    ]);
    expect(sm.get('a')).toBeUndefined();
    expect(sm.get('b')).toBe('new');
    expect(sm.size).toBe(1);
  });

  it('applies an entry that is not a command as a no-op instead of stopping', () => {
    const sm = new KvStateMachine();
    const results = sm.onApply(
      entries(new TextEncoder().encode('garbage'), { op: 'put', key: 'k', value: 'v' }),
    );
    expect(results[0]).toEqual({ op: 'invalid', reason: 'not UTF-8 JSON' });
    expect(sm.get('k')).toBe('v');
  });

  it('gives equal states equal digests whatever the order of unrelated writes', () => {
    const a = new KvStateMachine();
    const b = new KvStateMachine();
    a.onApply(entries({ op: 'put', key: 'x', value: '1' }, { op: 'put', key: 'y', value: '2' }));
    b.onApply(entries({ op: 'put', key: 'y', value: '2' }, { op: 'put', key: 'x', value: '1' }));
    expect(a.digest()).toEqual(b.digest());
    b.onApply(entries({ op: 'put', key: 'x', value: '1!' }));
    expect(b.digest().sha256).not.toBe(a.digest().sha256);
    // Keys and values that would run together in a naive concatenation stay distinct.
    const c = new KvStateMachine();
    const d = new KvStateMachine();
    c.onApply(entries({ op: 'put', key: 'ab', value: 'c' }));
    d.onApply(entries({ op: 'put', key: 'a', value: 'bc' }));
    expect(c.digest().sha256).not.toBe(d.digest().sha256);
  });
});
