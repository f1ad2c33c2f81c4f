import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, type RunResult, run } from './workspace.js';

/**
 * How a README's TypeScript example is tested, from the HTML comment just above it (which
 * neither GitHub nor npm shows):
 * - `<!-- test: run -->`: a whole program; it must exit 0 by itself, and print what
 *   `prints "..."` in the comment says, if it says;
 * - `<!-- test: cluster -->`: one node of a 3-process cluster, started as `node x.js 1|2|3`
 *   with `PEERS` naming three addresses; each prints its state machine's lines, and a SIGTERM
 *   stops it cleanly;
 * - `<!-- test: typecheck -->`: compiled against the packages, not run (it needs a network,
 *   a browser or a test runner).
 */
export type ExampleMode = 'run' | 'cluster' | 'typecheck';

export interface Example {
  /** `README.md:LINE` of the block's opening fence. */
  readonly where: string;
  readonly mode: ExampleMode | undefined;
  /** For `run`: text the output must contain. */
  readonly prints: string | undefined;
  readonly code: string;
}

/** Every ```ts block of a Markdown file (relative to the root), with how it is tested. */
export function examplesOf(file: string, root = ROOT): Example[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i] ?? '')) continue;
    const marker = /^<!-- test: (run|cluster|typecheck)(?:; prints "(.*)")? -->$/.exec(
      lines[i - 1] ?? '',
    );
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`${file}:${i + 1}: the code block never ends`);
    out.push({
      where: `${file}:${i + 1}`,
      mode: marker?.[1] as ExampleMode | undefined,
      prints: marker?.[2],
      code: `${lines.slice(i + 1, end).join('\n')}\n`,
    });
    i = end;
  }
  return out;
}

/**
 * `count` TCP ports free on 127.0.0.1, below the range the system hands out for port 0 (so
 * no outgoing connection or port-0 listener takes one between this check and its use).
 */
export async function freePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const free = await Promise.all(ports.map(isFree));
    if (free.every(Boolean)) return ports;
  }
  throw new Error(`no ${count} consecutive free ports found in 20000-30000`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface ClusterRun {
  /** Each process's output, by node number. */
  readonly outputs: string[];
  /** Each process's exit code after SIGTERM (null: killed by a signal). */
  readonly exitCodes: (number | null)[];
}

/**
 * Runs the `cluster` example `script` (plain JS) as three processes in `cwd`, waits until
 * every node applied the leader's command (`until` in its output), then sends each SIGTERM
 * and waits for it to exit. Processes left running at the deadline are SIGKILLed.
 */
export async function runCluster(
  script: string,
  cwd: string,
  until: RegExp,
  timeoutMs: number,
): Promise<ClusterRun> {
  const ports = await freePorts(3);
  const env = { ...process.env, PEERS: ports.map((p) => `127.0.0.1:${p}`).join(',') };
  const children = [1, 2, 3].map((i) =>
    spawn(process.execPath, [script, String(i)], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  const outputs = children.map(() => '');
  children.forEach((child, i) => {
    const append = (c: Buffer) => {
      outputs[i] += c.toString();
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
  });
  const exited = children.map(
    (child) =>
      new Promise<number | null>((resolve) => {
        if (child.exitCode !== null) resolve(child.exitCode);
        else child.once('exit', (code) => resolve(code));
      }),
  );
  const deadline = Date.now() + timeoutMs;
  try {
    while (!outputs.every((o) => until.test(o))) {
      const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
      if (running.length < children.length || Date.now() > deadline) {
        throw new Error(
          `the cluster did not get there (${until}) within ${timeoutMs} ms:\n${outputs.map((o, i) => `--- node ${i + 1}\n${o}`).join('\n')}`,
        );
      }
      await sleep(50);
    }
    for (const child of children) child.kill('SIGTERM');
    const stopBy = setTimeout(() => {
      for (const child of children) child.kill('SIGKILL');
    }, 30_000);
    const exitCodes = await Promise.all(exited);
    clearTimeout(stopBy);
    return { outputs, exitCodes };
  } finally {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}

/**
 * Type-checks and compiles `<name>.ts` files in `dir` (an ES module project whose
 * node_modules holds the packages) with the workspace's TypeScript, as a user's strict
 * project would; the `.js` lands next to each `.ts`. Node's types come from the workspace.
 */
export async function compile(dir: string, names: readonly string[]): Promise<RunResult> {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        typeRoots: [join(ROOT, 'node_modules/@types')],
        types: ['node'],
      },
      files: names.map((n) => `${n}.ts`),
    }),
  );
  return run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], {
    cwd: dir,
    timeoutMs: 180_000,
  });
}
