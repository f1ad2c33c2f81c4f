import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { protoDir, protoFiles } from '../src/proto-files.js';

describe('@kontiki/protocol/proto', () => {
  it('names every .proto file of the package, each present under protoDir', () => {
    expect(protoFiles.length).toBeGreaterThan(0);
    for (const file of protoFiles) {
      const path = join(protoDir, file);
      expect({ file, exists: existsSync(path) }).toEqual({ file, exists: true });
      expect(readFileSync(path, 'utf8')).toMatch(/^package kontiki\.raft\.v1;$/m);
    }
  });
});
