/**
 * Where this package's `.proto` files are, for generating code in another language:
 * {@link protoDir} is the include path (protoc's `-I`, a buf module root) and
 * {@link protoFiles} are the files below it. Node only (it resolves a file path).
 *
 * @example
 * ```ts
 * import { protoDir, protoFiles } from '@kontiki/protocol/proto';
 * console.log(`protoc -I ${protoDir} ${protoFiles.join(' ')} --go_out=.`);
 * ```
 *
 * @packageDocumentation
 */
import { fileURLToPath } from 'node:url';

/** The directory that holds `kontiki/raft/v1/*.proto` (shipped in the package's `proto/`). */
export const protoDir: string = fileURLToPath(new URL('../proto', import.meta.url));

/** The `.proto` files, relative to {@link protoDir}. */
export const protoFiles: readonly string[] = [
  'kontiki/raft/v1/raft.proto',
  'kontiki/raft/v1/raft_service.proto',
];
