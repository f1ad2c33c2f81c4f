import { StorageError } from '@kontiki/core';
import type { EngineLink, LinkEvents, OpenedStore } from './engine-link.js';
import type { Numbered } from './ops.js';
import type { ResolvedStoreOptions } from './options.js';
import { StoreEngine } from './store-engine.js';
import { engineHooks, type TestHooks } from './test-hooks.js';
import { asStorageError, messageOf } from './wire-error.js';

/**
 * `thread: 'main'`: the engine runs on the calling thread. Ops are run synchronously when
 * sent (a batch at the end of a turn, a lone read at once), exactly as before the worker
 * existed; entries are neither packed nor copied.
 */
export class InlineLink implements EngineLink {
  readonly opened: OpenedStore;

  static open(
    path: string,
    options: ResolvedStoreOptions,
    hooks: TestHooks,
    events: LinkEvents,
  ): InlineLink {
    const engine = StoreEngine.open(
      path,
      options,
      false,
      engineHooks(hooks, () => {
        throw new StorageError('test hook exitAtCommit needs thread: worker');
      }),
    );
    return new InlineLink(engine, events);
  }

  private constructor(
    private readonly engine: StoreEngine,
    private readonly events: LinkEvents,
  ) {
    this.opened = {
      file: engine.file,
      groups: engine.openedGroups(),
      recovered: engine.recovered,
    };
  }

  send(ops: Numbered[]): void {
    try {
      this.engine.execute(ops, (results) => this.events.results(results, this.engine.commits));
    } catch (error) {
      // The engine answers every op itself; getting here is a bug, reported as a failure.
      this.events.failed(asStorageError(error));
    }
  }

  setBusy(): void {}

  async close(): Promise<void> {
    try {
      this.engine.close();
    } catch (error) {
      throw new StorageError(`closing ${this.opened.file}: ${messageOf(error)}`, { cause: error });
    }
  }
}
