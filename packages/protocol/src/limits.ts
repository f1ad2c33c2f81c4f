import { BadRequestError } from '@kontiki/core';

/**
 * What a decoded message may hold. A value outside these bounds is refused with
 * BadRequestError before it reaches a handler: a node never sees a term it cannot add one
 * to, a peer id of a megabyte, or a configuration that lists a member twice.
 */
export const WIRE_LIMITS = {
  /**
   * The largest term or index accepted: one below 2^53 - 1, so that the next election
   * (term + 1) and the next entry (index + 1) are still exact JavaScript numbers.
   */
  maxTermOrIndex: Number.MAX_SAFE_INTEGER - 1,
  /** Characters of a peer id or a group id. */
  maxIdLength: 256,
  /** Peers in one list of a configuration (voters, old voters, learners). */
  maxMembers: 1024,
  /** Entries in one AppendEntries (core sends at most `maxEntriesPerRpc`, default 1,024). */
  maxEntries: 1_000_000,
  /** Characters of the token in a hello. */
  maxTokenLength: 4096,
  /** Characters of an error's message; a longer one is cut, not refused. */
  maxErrorMessageLength: 4096,
} as const;

// C0 controls and DEL: an id holding them would forge lines in logs and status pages.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A term or index from the wire: at most {@link WIRE_LIMITS.maxTermOrIndex}. */
export function checkTermOrIndex(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > WIRE_LIMITS.maxTermOrIndex) {
    throw new BadRequestError(
      `${field} ${value} is out of range (0 to ${WIRE_LIMITS.maxTermOrIndex})`,
    );
  }
  return value;
}

/** A peer id: non-empty, bounded, no control characters. */
export function checkPeerId(value: string, field: string): string {
  if (value.length === 0) throw new BadRequestError(`${field} is empty`);
  return checkId(value, field);
}

/** A group id: bounded, no control characters (empty is a valid name). */
export function checkGroupId(value: string, field = 'group id'): string {
  return checkId(value, field);
}

/**
 * Ids already found good: a node hears the same few group and peer ids in every message, so
 * each is checked once. Bounded: past the bound it starts over (ids are then checked again).
 */
const goodIds = new Set<string>();
const GOOD_IDS_KEPT = 4096;

function checkId(value: string, field: string): string {
  if (goodIds.has(value)) return value;
  if (value.length > WIRE_LIMITS.maxIdLength) {
    throw new BadRequestError(
      `${field} is ${value.length} characters long (at most ${WIRE_LIMITS.maxIdLength})`,
    );
  }
  if (CONTROL.test(value)) throw new BadRequestError(`${field} holds a control character`);
  if (goodIds.size >= GOOD_IDS_KEPT) goodIds.clear();
  goodIds.add(value);
  return value;
}
