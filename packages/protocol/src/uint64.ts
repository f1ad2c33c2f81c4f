import { BadRequestError } from '@kontiki/core';

/**
 * index and term are uint64 on the wire, safe integers in core. A value a JavaScript number
 * cannot hold exactly would silently become another index, so it is refused instead.
 */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function toSafeNumber(value: bigint, field: string): number {
  if (value > MAX_SAFE) {
    throw new BadRequestError(`${field} ${value} is above Number.MAX_SAFE_INTEGER`);
  }
  return Number(value);
}

/** Checks a number from core before it goes out as a uint64. */
export function toUint64(value: number, field: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new BadRequestError(`${field} must be a non-negative safe integer, got ${value}`);
  }
  return BigInt(value);
}
