/**
 * The kv-server process. Prints one JSON line per lifecycle event on stdout (`listening`,
 * `ready`, `role`, `leader`, `stopped`); errors go to stderr. SIGTERM and SIGINT stop it
 * cleanly (exit 0); a configuration error exits 2, a failure to start exits 1.
 */
import { createInterface } from 'node:readline';
import { ConfigError, parseConfig, USAGE } from './config.js';
import { setHeapGrowingPercent } from './heap-pacing.js';
import { KvServer, type ServerEvent } from './kv-server.js';

function print(event: ServerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** Resolves with stdin's first line; `onClose` runs when stdin ends (the launcher died). */
function stdinLines(onClose: () => void): () => Promise<string> {
  const lines = createInterface({ input: process.stdin });
  const first = new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    lines.once('close', () => reject(new Error('stdin closed before the peers were given')));
  });
  // Never an unhandled rejection: start() awaits it only with `--peers stdin`.
  first.catch(() => {});
  lines.on('close', onClose);
  return () => first;
}

async function main(): Promise<number> {
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`kontiki-kv-server: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  // A process-wide V8 setting: the executable's to make, not KvServer's (a library class).
  if (config.heapGrowingPercent) setHeapGrowingPercent(config.heapGrowingPercent);

  let server: KvServer | undefined;
  let exiting = false;
  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    const done = server ? server.stop() : Promise.resolve();
    done.then(
      () => process.exit(code),
      (error: unknown) => {
        process.stderr.write(`kontiki-kv-server: error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => exit(0));
  process.on('SIGINT', () => exit(0));

  const needStdin = config.peers === 'stdin' || config.exitOnStdinClose;
  const readPeersLine = needStdin
    ? stdinLines(() => {
        if (config.exitOnStdinClose) exit(0);
      })
    : undefined;

  try {
    server = await KvServer.start(config, {
      announce: print,
      ...(readPeersLine ? { readPeersLine } : {}),
    });
  } catch (error) {
    if (exiting) return -1;
    process.stderr.write(
      `kontiki-kv-server: ${config.id} failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }
  if (exiting) await server.stop();
  return -1;
}

/**
 * Runs this process as a kv-server (flags from argv, then environment): the body of
 * `main.js`, and of the CLI's bundled server. Exits the process when the server stops.
 */
export function runServerProcess(): void {
  main().then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (error: unknown) => {
      process.stderr.write(
        `kontiki-kv-server: ${error instanceof Error ? error.stack : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
