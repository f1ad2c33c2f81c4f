import type { MessagePort } from 'node:worker_threads';
import type { OpenedStore } from './engine-link.js';
import { transferablesOf } from './entry-batch.js';
import type { Numbered, OpResult } from './ops.js';
import type { ResolvedStoreOptions } from './options.js';
import type { TestHooks } from './test-hooks.js';
import type { WireError } from './wire-error.js';

/**
 * The messages between a store and its worker, over a MessageChannel of their own.
 *
 *   store → worker: ops (a batch, or a lone read), close
 *   worker → store: opened | openFailed (once), results (per read run early and per
 *                   transaction), closed (once, last)
 */

/** The worker's `workerData`. */
export interface WorkerInit {
  readonly path: string;
  readonly options: ResolvedStoreOptions;
  readonly hooks: TestHooks;
  readonly port: MessagePort;
}

export type ToWorker =
  | { readonly type: 'ops'; readonly ops: Numbered[] }
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'opened'; readonly store: OpenedStore }
  | { readonly type: 'openFailed'; readonly error: WireError }
  | { readonly type: 'results'; readonly results: OpResult[]; readonly commits: number }
  | { readonly type: 'closed'; readonly error?: WireError };

/** Buffers that ops own alone (packed entries, copied chunks): moved, not cloned. */
export function opTransferables(ops: readonly Numbered[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const op of ops) {
    if (op.kind === 'append') out.push(...transferablesOf(op.entries));
    else if (op.kind === 'snapshotWrite') out.push(op.data.buffer as ArrayBuffer);
  }
  return out;
}

/** Buffers that answers own alone (packed entries read, snapshot bytes read). */
export function resultTransferables(results: readonly OpResult[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const r of results) {
    if (!r.ok) continue;
    const v = r.value;
    if (v instanceof Uint8Array) out.push(v.buffer as ArrayBuffer);
    else if (typeof v === 'object' && v !== null && 'form' in v) out.push(...transferablesOf(v));
  }
  return out;
}
