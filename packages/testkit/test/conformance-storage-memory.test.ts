import {
  MemoryLogStorage,
  MemoryMetaStorage,
  MemorySnapshotStorage,
} from '@kontiki/storage-memory';
import { logStorageSuite } from '../src/conformance/log-storage.js';
import { metaStorageSuite } from '../src/conformance/meta-storage.js';
import { snapshotStorageSuite } from '../src/conformance/snapshot-storage.js';

// The memory storages keep their data in the object: "reopen" closes it and hands back
// the same object, as the simulator does when it restarts a node inside one process.

logStorageSuite({
  name: 'MemoryLogStorage',
  durable: true,
  async create() {
    const storage = new MemoryLogStorage();
    return {
      storage,
      async reopen() {
        await storage.close();
        storage.reopen();
        return storage;
      },
      cleanup: () => storage.close(),
    };
  },
});

metaStorageSuite({
  name: 'MemoryMetaStorage',
  durable: true,
  async create() {
    const storage = new MemoryMetaStorage();
    return {
      storage,
      async reopen() {
        await storage.close();
        return storage;
      },
      cleanup: () => storage.close(),
    };
  },
});

snapshotStorageSuite({
  name: 'MemorySnapshotStorage',
  durable: true,
  async create() {
    const storage = new MemorySnapshotStorage();
    return {
      storage,
      async reopen() {
        await storage.close();
        return storage;
      },
      cleanup: () => storage.close(),
    };
  },
});
