import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ServerEvent } from './kv-server.js';

export interface SpawnOptions {
  /** The kv-server entry script (its built `main.js`). */
  readonly script: string;
  readonly args: readonly string[];
  /** Options for node itself, before the script (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Each line of the child's stderr: passed through, or kept (the last lines) for errors. */
  readonly stderr: 'inherit' | 'collect';
  readonly onEvent?: (event: ServerEvent) => void;
  /** Called when the child exits, whatever the reason. */
  readonly onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

const STDERR_LINES_KEPT = 40;

/**
 * One kv-server child process: its JSON event lines on stdout, its exit, and what it wrote
 * to stderr. Its stdin stays open: the server is started with `--exit-on-stdin-close`, so
 * it stops if this process dies without killing it.
 */
export class ServerProcess {
  readonly events: ServerEvent[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private readonly stderrTail: string[] = [];
  private readonly waiters = new Set<() => void>();
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(options: SpawnOptions) {
    this.child = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), options.script, ...options.args],
      {
        env: { ...options.env },
        stdio: ['pipe', 'pipe', options.stderr === 'inherit' ? 'inherit' : 'pipe'],
        // Its own process group: a Ctrl-C in the terminal reaches the launcher only, which
        // stops the nodes in order. (Should the launcher die, stdin closing stops them.)
        detached: true,
      },
    );
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.notify();
        options.onExit?.(code, signal);
        resolve({ code, signal });
      });
    });
    // A write to the stdin of a child that already died must not crash the launcher.
    this.child.stdin?.on('error', () => {});
    if (this.child.stdout) {
      createInterface({ input: this.child.stdout }).on('line', (line) => {
        let event: ServerEvent;
        try {
          event = JSON.parse(line) as ServerEvent;
        } catch {
          return;
        }
        this.events.push(event);
        options.onEvent?.(event);
        this.notify();
      });
    }
    if (this.child.stderr) {
      createInterface({ input: this.child.stderr }).on('line', (line) => {
        this.stderrTail.push(line);
        if (this.stderrTail.length > STDERR_LINES_KEPT) this.stderrTail.shift();
      });
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The last lines the child wrote to stderr (when collected). */
  get stderr(): string {
    return this.stderrTail.join('\n');
  }

  /** Writes one line to the child's stdin. */
  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /**
   * Resolves with the first event (already seen or to come) that `match` accepts; rejects
   * if the child exits first or `timeoutMs` passes.
   */
  waitForEvent<E extends ServerEvent>(
    what: string,
    match: (event: ServerEvent) => event is E,
    timeoutMs: number,
  ): Promise<E> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.events.find(match);
        if (found !== undefined) {
          done();
          resolve(found);
          return true;
        }
        if (this.exitInfo !== undefined) {
          done();
          const how = this.exitInfo.signal ?? `code ${this.exitInfo.code}`;
          reject(new Error(`kv-server exited (${how}) before ${what}${this.stderrNote()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`kv-server: no ${what} within ${timeoutMs} ms${this.stderrNote()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter = (): void => {
        check();
      };
      if (!check()) this.waiters.add(waiter);
    });
  }

  /** Sends `signal` and resolves once the child has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exitInfo === undefined) this.child.kill(signal);
    await this.exited;
  }

  /** SIGTERM, then SIGKILL if the child is still running after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.exitInfo !== undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private stderrNote(): string {
    const tail = this.stderr.trim();
    return tail === '' ? '' : `; its stderr:\n${tail}`;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
