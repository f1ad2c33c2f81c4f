import type { GroupId, RaftMeta } from '@kontiki/core';
import type { LogRange } from './ops.js';

/** What the engine knows of one group, as committed to disk. */
export interface GroupState {
  readonly gid: number;
  readonly name: GroupId;
  log: LogRange;
  meta: RaftMeta;
}
