import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The simulator is deterministic only because core takes time and randomness from its
// options. This keeps it so: no source file of core may reach for the real ones, except
// clock.ts, which holds the defaults.
describe('core takes time and randomness only from its options', () => {
  const dir = join(import.meta.dirname, '..', 'src');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'clock.ts');
  const forbidden =
    /\b(Date\.now|Math\.random|setTimeout|setInterval|setImmediate|performance\.now)\s*\(/;

  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  for (const f of files) {
    it(`${f} calls no real clock, timer or random source`, () => {
      const code = readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((line) => !line.trim().startsWith('*') && !line.trim().startsWith('//'));
      const hits = code.filter((line) => forbidden.test(line));
      expect(hits).toEqual([]);
    });
  }
});
