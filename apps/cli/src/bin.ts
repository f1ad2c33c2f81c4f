// `kontiki`: the Kontiki command line (the shebang comes from the build's banner).
import { CommandError, UsageError } from './args.js';
import { clusterAddNodeCommand, clusterRemoveNodeCommand } from './commands/cluster-nodes.js';
import { clusterStartCommand } from './commands/cluster-start.js';
import { demoCommand } from './commands/demo.js';
import { casCommand, deleteCommand, getCommand, putCommand } from './commands/kv.js';
import { membersCommand, membersSetCommand } from './commands/members.js';
import { snapshotCommand } from './commands/snapshot.js';
import { statusCommand } from './commands/status.js';
import { transferLeaderCommand } from './commands/transfer-leader.js';
import { type Output, processOutput } from './output.js';
import { USAGE } from './usage.js';

type Command = (argv: readonly string[], io: Output) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  demo: demoCommand,
  'cluster start': clusterStartCommand,
  'cluster add-node': clusterAddNodeCommand,
  'cluster remove-node': clusterRemoveNodeCommand,
  get: getCommand,
  put: putCommand,
  delete: deleteCommand,
  cas: casCommand,
  status: statusCommand,
  'transfer-leader': transferLeaderCommand,
  snapshot: snapshotCommand,
  members: membersCommand,
  'members set': membersSetCommand,
};

async function main(argv: readonly string[], io: Output): Promise<number> {
  const [first, second] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    io.out(USAGE);
    return first === undefined ? 2 : 0;
  }
  const twoWords = second !== undefined ? `${first} ${second}` : '';
  const name = COMMANDS[twoWords] !== undefined ? twoWords : first;
  const command = COMMANDS[name];
  if (command === undefined) {
    io.err(`kontiki: unknown command "${first}"\n\n${USAGE}`);
    return 2;
  }
  const rest = argv.slice(name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  try {
    return await command(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`kontiki ${name}: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof CommandError) {
      io.err(`kontiki ${name}: ${error.message}`);
      return 1;
    }
    io.err(`kontiki ${name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

main(process.argv.slice(2), processOutput).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`kontiki: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
