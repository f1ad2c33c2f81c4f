import { metaChecksum } from './checksum.js';
import type { EngineContext } from './engine-context.js';
import type { WriteOp } from './ops.js';

/** The term-and-vote write, as the engine runs it inside its transaction. */
export function saveMeta(ctx: EngineContext, op: Extract<WriteOp, { kind: 'saveMeta' }>): void {
  const gid = ctx.gid(op.group);
  ctx.statements.saveMeta.run(gid, op.term, op.votedFor, metaChecksum(op.term, op.votedFor));
  ctx.setMeta(op.group, { term: op.term, votedFor: op.votedFor });
}
