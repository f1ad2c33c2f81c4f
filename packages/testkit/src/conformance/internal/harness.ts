import { RaftError } from '@kontiki/core';
import { expect } from 'vitest';

/** What every conformance harness has: something to clean up after a test. */
export interface Cleanable {
  cleanup?(): Promise<void>;
}

/** Runs `test` on a fresh harness and always cleans it up afterwards. */
export async function withHarness<H extends Cleanable>(
  create: () => Promise<H>,
  test: (harness: H) => Promise<void>,
): Promise<void> {
  const harness = await create();
  try {
    await test(harness);
  } finally {
    await harness.cleanup?.();
  }
}

/** Asserts that `promise` rejects with a RaftError of `code`. */
export async function expectRaftError(promise: Promise<unknown>, code: string): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a rejection with code ${code}`).toBeDefined();
  expect(RaftError.is(caught), `expected a RaftError, got ${String(caught)}`).toBe(true);
  expect((caught as RaftError).code).toBe(code);
}

/** Byte equality without vitest's element-by-element diff (slow on megabytes). */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  expect(actual instanceof Uint8Array, `${what} is a Uint8Array`).toBe(true);
  expect(actual.byteLength, `${what}: length`).toBe(expected.byteLength);
  for (let i = 0; i < expected.byteLength; i++) {
    if (actual[i] !== expected[i]) {
      expect.fail(`${what}: byte ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** Deterministic bytes that differ with `seed`, so a misplaced chunk or entry shows. */
export function patternBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    // xorshift32: cheap and never all-zero.
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
