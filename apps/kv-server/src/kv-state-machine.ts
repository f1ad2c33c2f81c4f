import { createHash } from 'node:crypto';
import type { CommittedEntry, SnapshotReader, SnapshotWriter, StateMachine } from '@kontiki/core';
import {
  decodeCommand,
  type KvCommand,
  type KvResult,
  type TxnCompare,
  type TxnOp,
  type TxnOpResult,
} from './commands.js';
import type { PeerAddress } from './config.js';
import { compareBytes, type KeyedEntry, type KvEntry, shapeRange, utf8 } from './kv-entry.js';
import { readSnapshot, writeSnapshot } from './snapshot-codec.js';

/** What `digest()` returns: enough to compare the state of two nodes. */
export interface KvDigest {
  readonly keys: number;
  /**
   * SHA-256 (hex) over every key, value and its revisions, in key order, the store's
   * revision, then (when any were recorded) every peer address, in id order.
   */
  readonly sha256: string;
}

/**
 * One change to a key, as etcd's watch reports it: a put with the key as written, or a
 * delete whose `kv` has the key and the deletion's revision as mod revision (zeros elsewhere).
 * `prev` is the key before the change.
 */
export interface KvEvent {
  readonly type: 'put' | 'delete';
  readonly kv: KeyedEntry;
  readonly prev: KeyedEntry | undefined;
}

/** Told of every change as it is applied (how etcd's Watch is served). */
export interface KvChangeListener {
  /** The changes one revision made, in order. */
  onChange(revision: number, events: readonly KvEvent[]): void;
  /** The state was replaced by a snapshot: what happened in between is not known. */
  onReset(revision: number): void;
}

/** A transaction, as a command (see `KvCommand`). */
export type TxnCommand = Extract<KvCommand, { op: 'txn' }>;

/** The revision of a store that has seen no write (etcd's too: the first write makes 2). */
export const INITIAL_REVISION = 1;

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function keyed(key: string, entry: KvEntry | undefined): KeyedEntry | undefined {
  return entry === undefined ? undefined : withKey(key, entry);
}

/**
 * The entry with its key. Written out, not spread: this runs several times per write, and on
 * Node 20 an object spread costs about a microsecond and a half, more than the write itself.
 */
function withKey(key: string, e: KvEntry): KeyedEntry {
  return {
    key,
    value: e.value,
    createRevision: e.createRevision,
    modRevision: e.modRevision,
    version: e.version,
  };
}

/** A key's number that a compare looks at (leases are not supported: always 0). */
function numericTarget(e: KvEntry, target: Exclude<TxnCompare['target'], 'value'>): number {
  if (target === 'version') return e.version;
  if (target === 'create') return e.createRevision;
  if (target === 'mod') return e.modRevision;
  return 0;
}

function holds(result: TxnCompare['result'], d: number): boolean {
  switch (result) {
    case 'equal':
      return d === 0;
    case 'notEqual':
      return d !== 0;
    case 'greater':
      return d > 0;
    case 'less':
      return d < 0;
  }
}

/**
 * The replicated state: a map from string keys to values with etcd's revisions (the store's
 * revision, and each key's create and mod revisions and version), and the addresses of the
 * group's members that were recorded through the log (how the nodes learn where a node that
 * joins later listens). Deterministic (the same entries in the same order give the same
 * state and results on every node) and synchronous, so that the state and the node's
 * applied index are consistent within one event-loop turn.
 *
 * Snapshots stream the state in the format of `snapshot-codec.ts`; core calls save and
 * load between apply batches, so the maps do not change while they run.
 */
export class KvStateMachine implements StateMachine<KvResult> {
  private data = new Map<string, KvEntry>();
  private peerBook = new Map<string, PeerAddress>();
  private rev = INITIAL_REVISION;
  /** Every key with its UTF-8 bytes, in byte order: built by the first range after a key came or went. */
  private sorted: Array<{ readonly key: string; readonly bytes: Uint8Array }> | undefined;
  private listener: KvChangeListener | undefined;
  /** The changes of the write being applied, while a listener wants them. */
  private events: KvEvent[] | undefined;

  /** Sets the one listener told of every change (undefined: none). */
  listen(listener: KvChangeListener | undefined): void {
    this.listener = listener;
  }

  onApply(entries: readonly CommittedEntry[]): readonly KvResult[] {
    return entries.map((entry) => {
      const command = decodeCommand(entry.data);
      // A bad entry must not stop the node (every node would stop at the same index): it
      // applies as a no-op and its proposer, if any, learns why.
      if (typeof command === 'string') return { op: 'invalid', reason: command };
      return this.execute(command);
    });
  }

  async onSnapshotSave(writer: SnapshotWriter): Promise<void> {
    await writeSnapshot(writer, { data: this.data, peers: this.peerBook, revision: this.rev });
  }

  async onSnapshotLoad(reader: SnapshotReader): Promise<void> {
    // Read whole before replacing anything: a damaged snapshot leaves the state as it was.
    const content = await readSnapshot(reader);
    this.data = content.data;
    this.peerBook = content.peers;
    this.rev = content.revision;
    this.sorted = undefined;
    this.listener?.onReset(this.rev);
  }

  get(key: string): string | undefined {
    return this.data.get(key)?.value;
  }

  /** The key with its value and revisions. */
  entry(key: string): KeyedEntry | undefined {
    return keyed(key, this.data.get(key));
  }

  /** The store's revision: that of the last write that changed something. */
  get revision(): number {
    return this.rev;
  }

  get size(): number {
    return this.data.size;
  }

  /** The addresses recorded through the log, by peer id. */
  get peers(): ReadonlyMap<string, PeerAddress> {
    return this.peerBook;
  }

  /**
   * etcd's ranges, in key (byte) order: without `end` (or with an empty one), the key alone;
   * with `end` = [0], every key >= `key`; else every key in [key, end).
   */
  range(key: Uint8Array, end?: Uint8Array): KeyedEntry[] {
    if (end === undefined || end.byteLength === 0) {
      let text: string;
      try {
        text = utf8Strict.decode(key);
      } catch {
        return []; // Keys are text: bytes that are not UTF-8 name none.
      }
      const e = this.entry(text);
      return e === undefined ? [] : [e];
    }
    const all = end.byteLength === 1 && end[0] === 0;
    if (!all && compareBytes(key, end) >= 0) return [];
    this.sorted ??= [...this.data.keys()]
      .map((k) => ({ key: k, bytes: utf8(k) }))
      .sort((a, b) => compareBytes(a.bytes, b.bytes));
    const sorted = this.sorted;
    // The first key >= `key`, by binary search.
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes((sorted[mid] as { bytes: Uint8Array }).bytes, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    const out: KeyedEntry[] = [];
    for (let i = lo; i < sorted.length; i++) {
      const k = sorted[i] as { key: string; bytes: Uint8Array };
      if (!all && compareBytes(k.bytes, end) >= 0) break;
      out.push({ key: k.key, ...(this.data.get(k.key) as KvEntry) });
    }
    return out;
  }

  /**
   * Runs a transaction that only reads (its operations are all ranges) on the current state,
   * outside the log: how the etcd API serves read-only transactions after a read barrier, as
   * etcd does. Throws if the transaction would write.
   */
  readTxn(txn: TxnCommand): Extract<KvResult, { op: 'txn' }> {
    if ([...txn.success, ...txn.failure].some((op) => op.op !== 'range')) {
      throw new Error('readTxn: the transaction writes; it must go through the log');
    }
    const result = this.txn(txn);
    if (result.op !== 'txn') throw new Error('readTxn: a read-only transaction was refused');
    return result;
  }

  digest(): KvDigest {
    const hash = createHash('sha256');
    const keys = [...this.data.keys()].sort();
    for (const key of keys) {
      const e = this.data.get(key) as KvEntry;
      // JSON of the record: unambiguous whatever the key and value contain.
      hash.update(JSON.stringify([key, e.value, e.createRevision, e.modRevision, e.version]));
      hash.update('\n');
    }
    hash.update(JSON.stringify(['revision', this.rev]));
    hash.update('\n');
    for (const id of [...this.peerBook.keys()].sort()) {
      hash.update(JSON.stringify(['peer', id, this.peerBook.get(id)]));
      hash.update('\n');
    }
    return { keys: keys.length, sha256: hash.digest('hex') };
  }

  private execute(command: KvCommand): KvResult {
    if (command.op === 'peers') {
      for (const [id, address] of Object.entries(command.peers)) this.peerBook.set(id, address);
      return { op: 'peers' };
    }
    if (this.listener !== undefined) this.events = [];
    const result = this.executeKv(command);
    const events = this.events;
    this.events = undefined;
    if (events !== undefined && events.length > 0) this.listener?.onChange(this.rev, events);
    return result;
  }

  private executeKv(command: Exclude<KvCommand, { op: 'peers' }>): KvResult {
    if (command.op === 'txn') return this.txn(command);
    const before = this.data.get(command.key);
    const prev = before?.value ?? null;
    const prevEntry = keyed(command.key, before);
    switch (command.op) {
      case 'put':
        this.rev++;
        this.write(command.key, command.value, before, this.rev);
        return { op: 'put', prev, prevEntry, revision: this.rev };
      case 'delete':
        if (before !== undefined) {
          this.rev++;
          this.remove(command.key, before, this.rev);
        }
        return { op: 'delete', prev, prevEntry, revision: this.rev };
      case 'cas': {
        const succeeded = prev === command.expected;
        if (succeeded) {
          this.rev++;
          this.write(command.key, command.value, before, this.rev);
        }
        return { op: 'cas', succeeded, prev, prevEntry, revision: this.rev };
      }
    }
  }

  private write(key: string, value: string, before: KvEntry | undefined, rev: number): void {
    if (before === undefined) this.sorted = undefined;
    // A new object each time: results and ranges hand out entries, which must not change.
    const entry: KvEntry = {
      value,
      createRevision: before?.createRevision ?? rev,
      modRevision: rev,
      version: (before?.version ?? 0) + 1,
    };
    this.data.set(key, entry);
    this.events?.push({ type: 'put', kv: withKey(key, entry), prev: keyed(key, before) });
  }

  private remove(key: string, before: KvEntry, rev: number): void {
    this.data.delete(key);
    this.sorted = undefined;
    this.events?.push({
      type: 'delete',
      kv: { key, value: '', createRevision: 0, modRevision: rev, version: 0 },
      prev: withKey(key, before),
    });
  }

  /** etcd's Txn: compares on the state before it, then one branch; its writes share one revision. */
  private txn(command: TxnCommand): KvResult {
    const succeeded = command.compare.every((c) => this.compareHolds(c));
    const ops = succeeded ? command.success : command.failure;
    // Refused as a whole before anything changes, as etcd checks a put that keeps the value.
    for (const op of ops) {
      if (op.op === 'put' && op.ignoreValue === true && !this.data.has(op.key)) {
        return { op: 'txnRefused', reason: 'KEY_NOT_FOUND', revision: this.rev };
      }
    }
    const next = this.rev + 1;
    let wrote = false;
    const responses = ops.map((op): TxnOpResult => {
      if (op.op === 'range') {
        return { op: 'range', ...shapeRange(this.range(op.key, op.end), op.options) };
      }
      if (op.op === 'put') {
        const before = this.data.get(op.key);
        const value = op.ignoreValue === true ? (before?.value ?? '') : op.value;
        this.write(op.key, value, before, next);
        wrote = true;
        return { op: 'put', prev: keyed(op.key, before) };
      }
      const prevs = this.range(op.key, op.end);
      for (const e of prevs) this.remove(e.key, e, next);
      if (prevs.length > 0) wrote = true;
      return { op: 'deleteRange', deleted: prevs.length, prevs };
    });
    if (wrote) this.rev = next;
    return { op: 'txn', succeeded, responses, revision: this.rev };
  }

  private compareHolds(c: TxnCompare): boolean {
    const entries = this.range(c.key, c.end);
    if (entries.length === 0) {
      // etcd: a value compare on no key fails; the others compare with an absent key's zeros.
      if (c.target === 'value') return false;
      return holds(c.result, 0 - (c.operand as number));
    }
    return entries.every((e) => {
      if (c.target === 'value') {
        return holds(c.result, compareBytes(utf8(e.value), c.operand as Uint8Array));
      }
      return holds(c.result, numericTarget(e, c.target) - (c.operand as number));
    });
  }
}

/** Whether a transaction only reads (then it need not go through the log). */
export function isReadOnlyTxn(txn: {
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}): boolean {
  return [...txn.success, ...txn.failure].every((op) => op.op === 'range');
}
