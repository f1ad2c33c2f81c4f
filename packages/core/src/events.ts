import type { RaftError } from './errors.js';
import type { PeerId, Role, SnapshotMeta } from './types.js';

/** The events a node emits, by name. */
export interface NodeEvents {
  /** The node's role changed (follower, candidate, leader, ...). */
  roleChange: { readonly role: Role; readonly previous: Role; readonly term: number };
  /** The node learned of a new leader, or lost the one it had (`leaderId` undefined). */
  leaderChange: { readonly leaderId: PeerId | undefined; readonly term: number };
  /** The node's term moved forward. */
  termChange: { readonly term: number };
  /** The node stopped on an error it cannot continue from. */
  error: { readonly error: RaftError };
  /** This node saved a snapshot and compacted its log. */
  snapshotSaved: { readonly meta: SnapshotMeta };
  /** This node installed a snapshot sent by its leader. */
  snapshotInstalled: { readonly meta: SnapshotMeta };
}

type Listener<T> = (event: T) => void;

/** A minimal typed event emitter; a throwing listener is reported, not propagated. */
export class TypedEmitter<E extends object> {
  /** Created with the first listener (a multi-raft process has thousands of nodes, few listened to). */
  private listeners: Map<keyof E, Set<Listener<never>>> | undefined;

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(name: K, listener: Listener<E[K]>): () => void {
    this.listeners ??= new Map();
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(name, listener);
  }

  off<K extends keyof E>(name: K, listener: Listener<E[K]>): void {
    this.listeners?.get(name)?.delete(listener as Listener<never>);
  }

  protected emit<K extends keyof E>(name: K, event: E[K]): void {
    const set = this.listeners?.get(name);
    if (!set || set.size === 0) return;
    for (const l of [...set]) {
      try {
        (l as Listener<E[K]>)(event);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  protected onListenerError(_error: unknown): void {}
}
