import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from 'node:worker_threads';
import { type RaftError, StorageError } from '@kontiki/core';
import type { EngineLink, LinkEvents, OpenedStore } from './engine-link.js';
import type { Numbered } from './ops.js';
import type { ResolvedStoreOptions } from './options.js';
import type { TestHooks } from './test-hooks.js';
import { fromWire, messageOf, type WireError } from './wire-error.js';
import {
  type FromWorker,
  opTransferables,
  type ToWorker,
  type WorkerInit,
} from './worker-protocol.js';
import { WORKER_SCRIPT } from './worker-script.js';

/**
 * `thread: 'worker'` (the default): the engine runs on a worker thread of its own, and
 * this link is the store's end of it.
 *
 * - The worker keeps the process alive only while ops wait for answers (and while it
 *   closes): an idle store, like an open file, does not hold the process up.
 * - If the worker stops other than by `close()` (a crash, a fatal error, the thread
 *   terminated), every op waiting and every later one fails with a StorageError; `close()`
 *   then resolves at once.
 */
export class WorkerLink implements EngineLink {
  private exited = false;
  private closing: Promise<void> | undefined;
  private closeWaiter: { resolve(): void; reject(error: RaftError): void } | undefined;
  /** The worker said it closed the file (with an error, if closing failed). */
  private closedReply: { error?: WireError } | undefined;

  /** Starts a worker that opens and checks the store; resolves once it has. */
  static start(
    path: string,
    options: ResolvedStoreOptions,
    hooks: TestHooks,
    events: LinkEvents,
  ): Promise<WorkerLink> {
    return new Promise((resolve, reject) => {
      const { port1, port2 } = new MessageChannel();
      let worker: Worker;
      try {
        const init: WorkerInit = { path, options, hooks, port: port2 };
        worker = new Worker(WORKER_SCRIPT, { workerData: init, transferList: [port2] });
      } catch (error) {
        port1.close();
        reject(
          new StorageError(`cannot start the SQLite worker: ${messageOf(error)}`, { cause: error }),
        );
        return;
      }
      let link: WorkerLink | undefined;
      let openFailure: RaftError | undefined;
      let uncaught: Error | undefined;
      const handle = (message: FromWorker) => {
        switch (message.type) {
          case 'opened':
            link = new WorkerLink(worker, port1, message.store, events);
            link.setBusy(false);
            resolve(link);
            return;
          case 'openFailed':
            // Rejected once the worker has ended: no thread is left behind.
            openFailure = fromWire(message.error);
            return;
          case 'results':
            events.results(message.results, message.commits);
            return;
          case 'closed':
            if (link !== undefined) link.closedReply = message;
            return;
        }
      };
      port1.on('message', handle);
      // A message that cannot be read here would leave its ops unanswered: end the worker
      // instead, so that they fail (in the 'exit' handler) rather than hang.
      port1.on('messageerror', () => {
        worker.terminate().catch(() => {});
      });
      // An uncaught exception in the worker: 'exit' follows, which does the reporting.
      worker.on('error', (error) => {
        uncaught = error;
      });
      worker.once('exit', (code) => {
        // Messages the worker posted just before it ended may still be in the port.
        for (;;) {
          const left = receiveMessageOnPort(port1);
          if (left === undefined) break;
          handle(left.message as FromWorker);
        }
        port1.close();
        if (link === undefined) {
          reject(openFailure ?? stopped('while opening the store', code, uncaught));
          return;
        }
        link.ended(code, uncaught);
      });
    });
  }

  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    readonly opened: OpenedStore,
    private readonly events: LinkEvents,
  ) {}

  send(ops: Numbered[]): void {
    // After the worker ended the store has already failed every op: nothing to send to.
    if (this.exited) return;
    const message: ToWorker = { type: 'ops', ops };
    this.port.postMessage(message, opTransferables(ops));
  }

  setBusy(busy: boolean): void {
    if (this.exited || this.closing !== undefined) return;
    if (busy) {
      this.worker.ref();
      this.port.ref();
    } else {
      this.worker.unref();
      this.port.unref();
    }
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve, reject) => {
      if (this.exited) {
        resolve();
        return;
      }
      this.closeWaiter = { resolve, reject };
      // Held up until the file is closed: writes still queued get written.
      this.worker.ref();
      this.port.ref();
      this.port.postMessage({ type: 'close' } satisfies ToWorker);
    });
    return this.closing;
  }

  /** The worker thread ended. */
  private ended(code: number, uncaught: Error | undefined): void {
    this.exited = true;
    const reply = this.closedReply;
    if (reply === undefined) {
      this.events.failed(stopped('unexpectedly', code, uncaught, '; reopen the store'));
    }
    const waiter = this.closeWaiter;
    if (waiter === undefined) return;
    if (reply?.error !== undefined) {
      const error = fromWire(reply.error);
      waiter.reject(
        new StorageError(`closing ${this.opened.file}: ${error.message}`, { cause: error }),
      );
    } else {
      waiter.resolve();
    }
  }
}

function stopped(
  when: string,
  code: number,
  uncaught: Error | undefined,
  advice = '',
): StorageError {
  const why = uncaught === undefined ? '' : `: ${uncaught.message}`;
  return new StorageError(`the SQLite worker stopped ${when} (exit code ${code}${why})${advice}`, {
    cause: uncaught,
  });
}
