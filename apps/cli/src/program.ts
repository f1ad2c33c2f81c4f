import { Command, CommanderError, Option } from 'commander';
import { CommandError, type Parsed, parsed, UsageError } from './args.js';
import {
  clusterAddNodeCommand,
  clusterRemoveNodeCommand,
  clusterStopCommand,
} from './commands/cluster-nodes.js';
import { clusterStartCommand } from './commands/cluster-start.js';
import { demoCommand } from './commands/demo.js';
import { casCommand, deleteCommand, getCommand, putCommand } from './commands/kv.js';
import { membersCommand, membersSetCommand } from './commands/members.js';
import { snapshotCommand } from './commands/snapshot.js';
import { statusCommand } from './commands/status.js';
import { transferLeaderCommand } from './commands/transfer-leader.js';
import type { Output } from './output.js';

type Run = (args: Parsed, io: Output) => Promise<number>;

const TRANSPORTS = ['grpc', 'ws'];
const STORAGES = ['sqlite', 'memory'];

/** Where `cluster start` keeps data, and where the other commands look for its files. */
function dataDirOption(): Option {
  return new Option(
    '--data-dir <dir>',
    'where the cluster keeps cluster.json, cluster.secret and its data (default .kontiki-data)',
  );
}

function timeoutOption(what: string, defaultMs: number): Option {
  return new Option('--timeout-ms <n>', `${what} (default ${defaultMs})`);
}

/** The flags of every command that talks to a running cluster. */
function clientOptions(command: Command, timeoutMs = 10_000): Command {
  return command
    .addOption(
      new Option(
        '-e, --endpoints <host:port,...>',
        "the nodes' HTTP addresses (or KONTIKI_ENDPOINTS); default: the cluster.json of `kontiki cluster start` in --data-dir",
      ),
    )
    .addOption(dataDirOption())
    .addOption(
      new Option(
        '--token-file <path>',
        "the cluster's secret for admin requests (or KONTIKI_TOKEN); default DIR/cluster.secret",
      ),
    )
    .addOption(new Option('--json', "print the server's JSON answer"))
    .addOption(timeoutOption('per request, and how long to look for a leader', timeoutMs));
}

function transportOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--transport <name>', 'the Raft transport (default grpc)').choices(TRANSPORTS),
    )
    .addOption(
      new Option('--storage <name>', "the nodes' log storage (default sqlite)").choices(STORAGES),
    );
}

/**
 * The `kontiki` command line: every command, its arguments, flags and help, on commander.
 * `run` receives each command's parsed arguments and the command's full name.
 */
export function buildProgram(
  version: string,
  io: Output,
  run: (name: string, command: Run, args: Parsed) => Promise<void>,
): Command {
  const program = new Command('kontiki')
    .description(
      'A local Kontiki Raft cluster of key-value servers, and a client for it.\nExit codes: 0 success; 1 failure (or key not found, compare failed); 2 usage error.',
    )
    .version(version, '-v, --version', 'print the version')
    .helpCommand('help [command]', 'help for a command')
    // A command's flags belong to it alone: `members set --data-dir X` is set's flag, not
    // one of `members` (which has the same flags).
    .enablePositionalOptions()
    .showSuggestionAfterError(true);

  /** A leaf command whose action runs `command` with its parsed arguments. */
  const action =
    (name: string, command: Run) =>
    async (...received: unknown[]): Promise<void> => {
      const self = received[received.length - 1] as Command;
      const positionals = self.processedArgs.filter((a): a is string => typeof a === 'string');
      await run(name, command, parsed(self.opts(), positionals));
    };

  transportOptions(
    program
      .command('demo')
      .description(
        "start 3 kv-server processes, then show an election, writes, a SIGKILL of the leader, the re-election, the killed node's restart and catch-up, and check every node's data",
      ),
  )
    .addOption(
      new Option(
        '--data-dir <dir>',
        'where the nodes keep their data, kept afterwards (default: a temporary directory)',
      ),
    )
    .addOption(new Option('--writes <n>', 'keys written before the kill (default 1000)'))
    .addOption(new Option('--election-timeout-ms <n>', 'election timeout (default 1000)'))
    .action(action('demo', demoCommand));

  const cluster = program
    .command('cluster')
    .description('run a local cluster, grow, shrink and stop it');
  transportOptions(
    cluster
      .command('start')
      .description(
        'run a local cluster in the foreground until Ctrl-C or `kontiki cluster stop`; with SQLite, DIR/nodes.json keeps the nodes (added ones too) for the next start on DIR',
      )
      .addOption(new Option('-n, --nodes <n>', 'how many nodes (default 3)')),
  )
    .addOption(dataDirOption())
    .addOption(
      new Option(
        '--base-port <n>',
        "node i serves HTTP on N+i, Raft on N+100+i and etcd's v3 API on N+200+i (default: ports the system picks)",
      ),
    )
    .addOption(new Option('--election-timeout-ms <n>', 'election timeout (default 1000)'))
    .addOption(
      new Option(
        '--groups <n>',
        'shard keys over N Raft groups per node (default 1; a restart on DIR keeps the count)',
      ),
    )
    .addOption(
      new Option('--snapshot-interval-s <n>', 'seconds between snapshots; 0: never (default 3600)'),
    )
    .addOption(
      new Option('--snapshot-log-margin <n>', 'log entries kept behind a snapshot (default 1000)'),
    )
    .action(action('cluster start', clusterStartCommand));
  cluster
    .command('stop')
    .description('stop the cluster that `kontiki cluster start` runs in DIR, as Ctrl-C would')
    .addOption(dataDirOption())
    .addOption(new Option('--json', 'print the answer as JSON'))
    .addOption(timeoutOption('how long to wait for it to stop', 60_000))
    .action(action('cluster stop', clusterStopCommand));
  cluster
    .command('add-node')
    .description(
      'the running cluster starts a new node with --join and its leader adds it (a voter, or a learner); it catches up first',
    )
    .addOption(new Option('--id <id>', 'the new node id (default: the next free nN)'))
    .addOption(new Option('--learner', 'add it as a learner (no vote)'))
    .addOption(dataDirOption())
    .addOption(new Option('--json', 'print the answer as JSON'))
    .addOption(timeoutOption('how long the node may take to catch up and join', 60_000))
    .action(action('cluster add-node', clusterAddNodeCommand));
  cluster
    .command('remove-node')
    .description(
      'the leader removes the node from the group (a leader removing itself steps down), then it stops; its data directory is renamed ID.removed-TIME',
    )
    .argument('<id>', 'the node to remove')
    .addOption(dataDirOption())
    .addOption(new Option('--json', 'print the answer as JSON'))
    .addOption(timeoutOption('how long the change may take', 60_000))
    .action(action('cluster remove-node', clusterRemoveNodeCommand));

  clientOptions(
    program
      .command('get')
      .description('print the value of KEY (a linearizable read)')
      .argument('<key>'),
  ).action(action('get', getCommand));
  clientOptions(
    program.command('put').description('set KEY to VALUE').argument('<key>').argument('<value>'),
  ).action(action('put', putCommand));
  clientOptions(program.command('delete').description('delete KEY').argument('<key>')).action(
    action('delete', deleteCommand),
  );
  clientOptions(
    program
      .command('cas')
      .description('set KEY to NEW only if it holds OLD (--expect) or is absent (--expect-absent)')
      .argument('<key>')
      .argument('<new-value>'),
  )
    .addOption(new Option('--expect <old>', 'the value KEY must hold'))
    .addOption(new Option('--expect-absent', 'KEY must not exist'))
    .action(action('cas', casCommand));
  clientOptions(
    program.command('status').description('role, term, leader and indexes of every node'),
  ).action(action('status', statusCommand));
  clientOptions(
    program
      .command('transfer-leader')
      .description('hand leadership to PEER (default: the most up-to-date follower)')
      .argument('[peer]'),
  ).action(action('transfer-leader', transferLeaderCommand));
  clientOptions(
    program
      .command('snapshot')
      .description('every node (or --node ID) snapshots its state now and compacts its log'),
    60_000,
  )
    .addOption(new Option('--node <id>', 'only this node'))
    .action(action('snapshot', snapshotCommand));
  const members = clientOptions(
    program.command('members').description("the group's voters and learners, with addresses"),
  ).action(action('members', membersCommand));
  clientOptions(
    members
      .command('set')
      .description(
        'change the membership (joint consensus); new members need their Raft (and HTTP) address',
      ),
    60_000,
  )
    .addOption(new Option('--voters <id,...>', 'the voters after the change (required)'))
    .addOption(new Option('--learners <id,...>', 'the learners after the change'))
    .addOption(new Option('--peers <id=host:port,...>', 'Raft addresses of new members'))
    .addOption(new Option('--peer-http <id=host:port,...>', 'HTTP addresses of new members'))
    .action(action('members set', membersSetCommand));

  // Errors are one line and a hint, on stderr; help goes to stdout.
  configure(program, io);
  return program;
}

/** The command's full name, e.g. `kontiki cluster start`. */
function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function configure(command: Command, io: Output): void {
  command.exitOverride();
  command.configureOutput({
    writeOut: (text) => io.out(text.trimEnd()),
    writeErr: (text) => io.out(text.trimEnd()),
    outputError: (text) => {
      const message = text.trim().replace(/^error: /, '');
      io.err(`${fullName(command)}: ${message} (see \`${fullName(command)} --help\`)`);
    },
  });
  for (const sub of command.commands) configure(sub, io);
}

/** What a failure of the program or of a command means as an exit code, and says on stderr. */
export function exitCodeOf(error: unknown, name: string, io: Output): number {
  if (error instanceof CommanderError) {
    // --help and --version: 0. Help shown because a command is incomplete (`kontiki`,
    // `kontiki cluster`): 2, like every usage error, whose line outputError has written.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
    return 2;
  }
  if (error instanceof UsageError) {
    io.err(`${name}: ${error.message} (see \`${name} --help\`)`);
    return 2;
  }
  if (error instanceof CommandError) {
    io.err(`${name}: ${error.message}`);
    return 1;
  }
  io.err(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}
