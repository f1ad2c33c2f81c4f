import type { RaftError } from '@kontiki/core';
import type { TruncatedTail } from './log-verifier.js';
import type { Numbered, OpenedGroup, OpResult } from './ops.js';

/** What the engine found at open. */
export interface OpenedStore {
  readonly file: string;
  readonly groups: readonly OpenedGroup[];
  readonly recovered: readonly TruncatedTail[];
}

/** What a link tells the store about the engine. */
export interface LinkEvents {
  /** Answers to ops, in the order the ops were sent. */
  results(results: readonly OpResult[], commits: number): void;
  /** The engine is gone (its worker crashed or was stopped): nothing more will be answered. */
  failed(error: RaftError): void;
}

/** The store's way to its engine: on this thread (InlineLink) or on a worker (WorkerLink). */
export interface EngineLink {
  readonly opened: OpenedStore;
  /** Hands ops to the engine, in order. */
  send(ops: Numbered[]): void;
  /** Ops are waiting for answers (true) or none is (false). */
  setBusy(busy: boolean): void;
  /** Runs what was sent, then closes the file (and ends the worker). */
  close(): Promise<void>;
}
