import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every file of a directory and its bytes, to show that an operation wrote nothing. */
export function snapshotDir(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir).sort()) out.set(name, readFileSync(join(dir, name)));
  return out;
}
