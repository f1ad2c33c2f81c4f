import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Counts fsync and fdatasync calls of running processes (all their threads) over a window,
 * with `strace -f -c -e trace=fsync,fdatasync -p PID`. Tracing slows the traced processes
 * down a lot: figures measured with it are counts, not speeds (an opt-in mode of the bench).
 */
export class FsyncCounter {
  private readonly dir = mkdtempSync(join(tmpdir(), 'kontiki-strace-'));
  private readonly tracers: Array<{ child: ChildProcess; out: string; exited: Promise<void> }> = [];

  /** Attaches to every pid; resolves once strace says it is attached (or after 2 s). */
  async attach(pids: readonly number[]): Promise<void> {
    await Promise.all(
      pids.map(async (pid) => {
        const out = join(this.dir, `${pid}.txt`);
        const child = spawn(
          'strace',
          ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-o', out, '-p', String(pid)],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        this.tracers.push({ child, out, exited });
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, 2000);
          child.once('error', (e) => {
            clearTimeout(timer);
            reject(new Error(`cannot run strace (apt-get install strace): ${e.message}`));
          });
          child.stderr?.on('data', (d: Buffer) => {
            if (d.toString().includes('attached')) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
      }),
    );
  }

  /** Detaches (SIGINT makes strace print its summary) and returns the calls counted. */
  async detach(): Promise<number> {
    for (const t of this.tracers) t.child.kill('SIGINT');
    await Promise.all(this.tracers.map((t) => t.exited));
    let calls = 0;
    for (const t of this.tracers) {
      let text = '';
      try {
        text = readFileSync(t.out, 'utf8');
      } catch {
        continue;
      }
      // "% time  seconds  usecs/call  calls  errors  syscall": calls of each syscall line.
      for (const line of text.split('\n')) {
        const cols = line.trim().split(/\s+/);
        const name = cols[cols.length - 1];
        if (name === 'fsync' || name === 'fdatasync') calls += Number(cols[3] ?? 0);
      }
    }
    this.tracers.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
    return calls;
  }
}
