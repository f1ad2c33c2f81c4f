import type { KvOperation, KvValue } from '../../src/index.js';

/**
 * Short builders for hand-made histories: `[from, to]` are the invocation and return times;
 * the key defaults to "x"; `unknown` ones are indefinite (no return).
 */
type Span = readonly [number, number];

export const read = (p: number, [from, to]: Span, value: KvValue, key = 'x'): KvOperation => ({
  process: p,
  key,
  call: { op: 'read' },
  invokedAt: from,
  outcome: 'completed',
  returnedAt: to,
  output: { op: 'read', value },
});

export const write = (
  p: number,
  [from, to]: Span,
  value: string,
  key = 'x',
  prev?: KvValue,
): KvOperation => ({
  process: p,
  key,
  call: { op: 'write', value },
  invokedAt: from,
  outcome: 'completed',
  returnedAt: to,
  output: prev === undefined ? { op: 'write' } : { op: 'write', prev },
});

export const del = (p: number, [from, to]: Span, key = 'x'): KvOperation => ({
  process: p,
  key,
  call: { op: 'delete' },
  invokedAt: from,
  outcome: 'completed',
  returnedAt: to,
  output: { op: 'delete' },
});

export const cas = (
  p: number,
  [from, to]: Span,
  expected: KvValue,
  value: string,
  succeeded: boolean,
  key = 'x',
): KvOperation => ({
  process: p,
  key,
  call: { op: 'cas', expected, value },
  invokedAt: from,
  outcome: 'completed',
  returnedAt: to,
  output: { op: 'cas', succeeded },
});

export const unknownWrite = (p: number, from: number, value: string, key = 'x'): KvOperation => ({
  process: p,
  key,
  call: { op: 'write', value },
  invokedAt: from,
  outcome: 'indefinite',
  reason: 'timeout',
});

export const unknownCas = (
  p: number,
  from: number,
  expected: KvValue,
  value: string,
  key = 'x',
): KvOperation => ({
  process: p,
  key,
  call: { op: 'cas', expected, value },
  invokedAt: from,
  outcome: 'indefinite',
  reason: 'LEADER_STEPPED_DOWN',
});

export const notAppliedWrite = (
  p: number,
  [from, to]: Span,
  value: string,
  key = 'x',
): KvOperation => ({
  process: p,
  key,
  call: { op: 'write', value },
  invokedAt: from,
  outcome: 'not-applied',
  returnedAt: to,
  reason: 'NOT_LEADER',
});
