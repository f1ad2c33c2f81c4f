import type { LogStorage, MetaStorage, SnapshotStorage } from '@kontiki/core';
import { logStorageSuite, testEntries } from '@kontiki/testkit/log-storage';
import { metaStorageSuite } from '@kontiki/testkit/meta-storage';
import { snapshotStorageSuite } from '@kontiki/testkit/snapshot-storage';
import { SqliteStore, type SqliteStoreOptions } from '../src/index.js';
import { tempDir } from './support/temp-dir.js';

/**
 * A harness on a store of its own. With `neighbour`, another group shares the file and
 * writes alongside the group under test (same transactions), which must not disturb it.
 */
function harness<S>(
  view: (store: SqliteStore) => S,
  options: SqliteStoreOptions & { neighbour?: boolean } = {},
) {
  return async () => {
    const { neighbour = false, ...storeOptions } = options;
    const tmp = tempDir('conformance');
    let store = await SqliteStore.open(tmp.dir, storeOptions);
    let noise: Promise<void> = Promise.resolve();
    if (neighbour) {
      const other = store.logStorage('neighbour');
      noise = other.append(testEntries(1, 50, 1));
    }
    return {
      storage: view(store),
      async reopen() {
        await noise;
        await store.close();
        store = await SqliteStore.open(tmp.dir, storeOptions);
        if (neighbour) {
          const other = store.logStorage('neighbour');
          noise = other.append(
            testEntries((await other.lastIndex()) + 1, (await other.lastIndex()) + 20, 2),
          );
        }
        return view(store);
      },
      async cleanup() {
        await noise.catch(() => {});
        await store.close();
        tmp.remove();
      },
    };
  };
}

const log = (s: SqliteStore): LogStorage => s.logStorage('g');
const meta = (s: SqliteStore): MetaStorage => s.metaStorage('g');
const snap = (s: SqliteStore): SnapshotStorage => s.snapshotStorage('g');

logStorageSuite({ name: 'SqliteLogStorage', durable: true, create: harness(log) });
logStorageSuite({
  name: 'SqliteLogStorage (synchronous: normal, sharing the file with another group)',
  durable: true,
  create: harness(log, { synchronous: 'normal', neighbour: true }),
});
metaStorageSuite({ name: 'SqliteMetaStorage', durable: true, create: harness(meta) });
metaStorageSuite({
  name: 'SqliteMetaStorage (sharing the file with another group)',
  durable: true,
  create: harness(meta, { neighbour: true }),
});
snapshotStorageSuite({ name: 'SqliteSnapshotStorage', durable: true, create: harness(snap) });
snapshotStorageSuite({
  name: 'SqliteSnapshotStorage (sharing the file with another group)',
  durable: true,
  create: harness(snap, { neighbour: true }),
});

// The same engine on a worker thread: what `thread: 'worker'` changes is only how ops
// reach it (a thread hop, copies), so one run of each suite with a neighbour covers it.
logStorageSuite({
  name: "SqliteLogStorage (thread: 'worker', sharing the file with another group)",
  durable: true,
  create: harness(log, { thread: 'worker', neighbour: true }),
});
metaStorageSuite({
  name: "SqliteMetaStorage (thread: 'worker', sharing the file with another group)",
  durable: true,
  create: harness(meta, { thread: 'worker', neighbour: true }),
});
snapshotStorageSuite({
  name: "SqliteSnapshotStorage (thread: 'worker', sharing the file with another group)",
  durable: true,
  create: harness(snap, { thread: 'worker', neighbour: true }),
});
