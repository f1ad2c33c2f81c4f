/** A benchmark's integer option, checked: `--name` must be an integer in [min, max]. */
export function int(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`--${name}: expected an integer in [${min}, ${max}], got ${v}`);
  }
  return n;
}
