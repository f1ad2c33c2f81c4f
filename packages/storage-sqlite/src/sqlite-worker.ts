/**
 * The worker thread of a store opened with `thread: 'worker'` (the default): it owns the
 * SQLite connection, so commits and their fsyncs block this thread, never the event loop
 * of the thread that uses the store. Built to dist/sqlite-worker.js; see worker-link.ts for
 * the other side and worker-protocol.ts for the messages.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { Numbered } from './ops.js';
import { StoreEngine } from './store-engine.js';
import { engineHooks } from './test-hooks.js';
import { toWire } from './wire-error.js';
import {
  type FromWorker,
  resultTransferables,
  type ToWorker,
  type WorkerInit,
} from './worker-protocol.js';

const { path, options, hooks, port } = workerData as WorkerInit;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

let engine: StoreEngine | undefined;
try {
  engine = StoreEngine.open(
    path,
    options,
    true,
    // A crash as abrupt as a native fault: no answer, no rollback, no close.
    engineHooks(hooks, () => process.exit(70)),
  );
} catch (error) {
  post({ type: 'openFailed', error: toWire(error) });
  // Nothing else keeps this thread alive: it ends, and the store sees it end.
  port.close();
}

if (engine !== undefined) {
  const store = engine;
  post({
    type: 'opened',
    store: { file: store.file, groups: store.openedGroups(), recovered: store.recovered },
  });

  const run = (ops: Numbered[]) => {
    if (ops.length === 0) return;
    store.execute(ops, (results) =>
      post({ type: 'results', results, commits: store.commits }, resultTransferables(results)),
    );
  };

  const close = () => {
    let message: FromWorker = { type: 'closed' };
    try {
      store.close();
    } catch (error) {
      message = { type: 'closed', error: toWire(error) };
    }
    post(message);
    port.close();
  };

  // A message that cannot be read would leave its ops unanswered: crash instead, so that
  // the store fails them.
  port.on('messageerror', (error) => {
    throw error;
  });

  port.on('message', (first: ToWorker) => {
    // Group commit: everything that queued up while the previous transaction ran (its
    // fsync included) goes into the next one, not one transaction per message.
    let ops: Numbered[] = [];
    let message: ToWorker | undefined = first;
    while (message !== undefined) {
      if (message.type === 'close') {
        run(ops);
        close();
        return;
      }
      if (ops.length === 0) ops = message.ops;
      else for (const op of message.ops) ops.push(op);
      message = receiveMessageOnPort(port)?.message as ToWorker | undefined;
    }
    run(ops);
  });
}
