import { type GroupId, type RaftMeta, StorageError } from '@kontiki/core';
import type Database from 'better-sqlite3';
import { groupChecksum } from './checksum.js';
import type { EngineContext, GroupView } from './engine-context.js';
import type { GroupState } from './group-state.js';
import * as log from './log-ops.js';
import type { TruncatedTail } from './log-verifier.js';
import { saveMeta } from './meta-ops.js';
import { openDatabase } from './open-database.js';
import {
  isRead,
  isUnordered,
  type LogRange,
  type Numbered,
  type Op,
  type OpenedGroup,
  type OpResult,
  type OpValue,
} from './ops.js';
import type { ResolvedStoreOptions } from './options.js';
import * as snapshot from './snapshot-ops.js';
import { Statements } from './statements.js';
import { messageOf, toWire } from './wire-error.js';

/** Test-only instrumentation of the engine. */
export interface EngineHooks {
  /** Runs inside every write transaction, just before its COMMIT. */
  readonly beforeCommit?: () => void;
}

interface Draft {
  log?: LogRange;
  meta?: RaftMeta;
}

const EMPTY_LOG: LogRange = { first: 1, last: 0 };
const NO_META: RaftMeta = { term: 0, votedFor: null };

/**
 * The store's SQLite side: the one connection, its prepared statements and what is
 * committed of every group. It runs ops in order on whichever thread owns it (a worker by
 * default) and never waits for anything but SQLite.
 *
 * Group commit: `execute` gets every op the facade sent since the last call (in worker mode,
 * every message that queued up while the previous transaction and its fsync ran) and
 * writes them in ONE transaction, so one fsync covers them all. Each write runs in its own
 * savepoint when it shares the transaction, so a write that fails (bad input found late)
 * takes nothing else with it; a failed COMMIT fails every op of the transaction. A read
 * sees exactly the writes sent before it: leading reads run before the transaction (and are
 * answered at once), the others inside it at their place, answered once it has committed;
 * reads that no write can affect (snapshot chunks of an open reader) are answered at once.
 */
export class StoreEngine {
  readonly file: string;
  readonly recovered: readonly TruncatedTail[];
  /** Transactions committed so far (the benchmark reports writes per transaction). */
  commits = 0;

  private readonly db: Database.Database;
  private readonly groups: Map<GroupId, GroupState>;
  private readonly context: EngineContext;
  /** Groups whose row the current transaction created; published at commit. */
  private readonly created = new Map<GroupId, GroupState>();
  /** What the writes already run in the current transaction left behind, per group. */
  private readonly drafts = new Map<GroupId, Draft>();
  private rollbacks: Array<() => void> = [];
  private readonly transaction: (ops: readonly Numbered[]) => OpResult[];
  private readonly savepoint: (op: Numbered) => OpValue;

  static open(
    path: string,
    options: ResolvedStoreOptions,
    packEntries: boolean,
    hooks: EngineHooks = {},
  ): StoreEngine {
    return new StoreEngine(path, options, packEntries, hooks);
  }

  private constructor(
    path: string,
    options: ResolvedStoreOptions,
    packEntries: boolean,
    hooks: EngineHooks,
  ) {
    const opened = openDatabase(path, options);
    this.db = opened.db;
    this.file = opened.file;
    this.groups = opened.groups;
    this.recovered = opened.recovered;
    let statements: Statements;
    try {
      statements = new Statements(this.db);
    } catch (error) {
      // Not opened after all: release the file (and its lock) before reporting.
      this.db.close();
      throw new StorageError(`cannot prepare ${this.file}: ${messageOf(error)}`, {
        cause: error,
      });
    }
    this.context = {
      statements,
      view: (group) => this.view(group),
      gid: (group) => this.gid(group),
      setLog: (group, range) => {
        this.draft(group).log = range;
      },
      setMeta: (group, meta) => {
        this.draft(group).meta = meta;
      },
      readers: new Map(),
      verified: new Map(),
      onRollback: (undo) => {
        this.rollbacks.push(undo);
      },
      packEntries,
    };
    // A nested better-sqlite3 transaction function runs as a SAVEPOINT.
    this.savepoint = this.db.transaction((op: Numbered) => this.run(op));
    this.transaction = this.db.transaction((ops: readonly Numbered[]) => {
      const out: OpResult[] = [];
      if (ops.length === 1) {
        // Alone in the transaction: no savepoint needed, a throw rolls back only this op.
        const op = ops[0] as Numbered;
        out.push({ id: op.id, ok: true, value: this.run(op) });
      } else {
        for (const op of ops) out.push(this.runShared(op));
      }
      hooks.beforeCommit?.();
      return out;
    });
  }

  /** The groups found at open, with their committed state. */
  openedGroups(): OpenedGroup[] {
    return [...this.groups.values()].map((g) => ({ name: g.name, log: g.log, meta: g.meta }));
  }

  /**
   * Runs `ops` in order and hands their results to `deliver`: once for the reads that come
   * before the first write (at once), once for the rest (after their transaction commits).
   */
  execute(ops: readonly Numbered[], deliver: (results: OpResult[]) => void): void {
    let i = 0;
    const early: OpResult[] = [];
    for (; i < ops.length && isRead(ops[i] as Numbered); i++) {
      early.push(this.runAlone(ops[i] as Numbered));
    }
    // Leading reads have nothing to wait for: they see only what is committed. Nor do
    // reads that no write can affect, wherever they are.
    let rest = i === 0 ? ops : ops.slice(i);
    if (rest.some(isUnordered)) {
      for (const op of rest) if (isUnordered(op)) early.push(this.runAlone(op));
      rest = rest.filter((op) => !isUnordered(op));
    }
    if (early.length > 0) deliver(early);
    if (rest.length > 0) deliver(this.transact(rest));
  }

  close(): void {
    this.db.close();
  }

  private transact(ops: readonly Numbered[]): OpResult[] {
    this.rollbacks = [];
    let results: OpResult[];
    try {
      results = this.transaction(ops);
      this.commits++;
    } catch (error) {
      for (const undo of this.rollbacks.reverse()) undo();
      this.created.clear();
      this.drafts.clear();
      const failure = toWire(
        ops.length === 1
          ? error
          : new StorageError(`the SQLite transaction failed: ${messageOf(error)}`, {
              cause: error,
            }),
      );
      return ops.map((op) => ({ id: op.id, ok: false, error: failure }));
    }
    for (const [name, g] of this.created) this.groups.set(name, g);
    for (const [name, d] of this.drafts) {
      const g = this.groups.get(name);
      if (g === undefined) continue;
      if (d.log !== undefined) g.log = d.log;
      if (d.meta !== undefined) g.meta = d.meta;
    }
    this.created.clear();
    this.drafts.clear();
    return results;
  }

  /** An op that shares the transaction: a failure is its own. */
  private runShared(op: Numbered): OpResult {
    try {
      if (isRead(op)) return { id: op.id, ok: true, value: this.run(op) };
      // The group's row is made outside the op's savepoint: a failed op must not take the
      // row that later ops of the same transaction already rely on.
      if ('group' in op) this.gid(op.group);
      return { id: op.id, ok: true, value: this.savepoint(op) };
    } catch (error) {
      return { id: op.id, ok: false, error: toWire(error) };
    }
  }

  /** A read outside any transaction. */
  private runAlone(op: Numbered): OpResult {
    this.rollbacks = [];
    try {
      return { id: op.id, ok: true, value: this.run(op) };
    } catch (error) {
      return { id: op.id, ok: false, error: toWire(error) };
    }
  }

  private run(op: Op): OpValue {
    const ctx = this.context;
    switch (op.kind) {
      case 'append':
        return log.append(ctx, op);
      case 'truncateSuffix':
        return log.truncateSuffix(ctx, op);
      case 'truncatePrefix':
        return log.truncatePrefix(ctx, op);
      case 'reset':
        return log.reset(ctx, op);
      case 'saveMeta':
        saveMeta(ctx, op);
        return undefined;
      case 'snapshotCreate':
        return snapshot.snapshotCreate(ctx, op);
      case 'snapshotWrite':
        snapshot.snapshotWrite(ctx, op);
        return undefined;
      case 'snapshotCommit':
        snapshot.snapshotCommit(ctx, op);
        return undefined;
      case 'snapshotAbort':
        snapshot.snapshotAbort(ctx, op);
        return undefined;
      case 'snapshotRelease':
        snapshot.snapshotRelease(ctx, op);
        return undefined;
      case 'entries':
        return log.entries(ctx, op);
      case 'term':
        return log.term(ctx, op);
      case 'range':
        return this.view(op.group).log;
      case 'meta':
        return this.view(op.group).meta;
      case 'snapshotOpen':
        return snapshot.snapshotOpen(ctx, op);
      case 'snapshotRead':
        return snapshot.snapshotRead(ctx, op);
    }
  }

  private view(group: GroupId): GroupView {
    const g = this.groups.get(group) ?? this.created.get(group);
    const d = this.drafts.get(group);
    return {
      gid: g?.gid,
      name: group,
      log: d?.log ?? g?.log ?? EMPTY_LOG,
      meta: d?.meta ?? g?.meta ?? NO_META,
    };
  }

  private gid(group: GroupId): number {
    const known = this.groups.get(group) ?? this.created.get(group);
    if (known !== undefined) return known.gid;
    const gid = Number(
      this.context.statements.insertGroup.run(group, 1, groupChecksum(group, 1)).lastInsertRowid,
    );
    this.created.set(group, { gid, name: group, log: EMPTY_LOG, meta: NO_META });
    return gid;
  }

  private draft(group: GroupId): Draft {
    let d = this.drafts.get(group);
    if (d === undefined) {
      d = {};
      this.drafts.set(group, d);
    }
    return d;
  }
}
