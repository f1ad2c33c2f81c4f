// `kontiki`: the Kontiki command line (the shebang comes from the build's banner).
import type { Parsed } from './args.js';
import { type Output, processOutput } from './output.js';
import { buildProgram, exitCodeOf } from './program.js';

/** The package's version, put in by the build (tsup's `define`). */
declare const KONTIKI_CLI_VERSION: string;

async function main(argv: readonly string[], io: Output): Promise<number> {
  let code = 0;
  let running = 'kontiki';
  const program = buildProgram(KONTIKI_CLI_VERSION, io, async (name, command, args: Parsed) => {
    running = `kontiki ${name}`;
    code = await command(args, io);
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    // `kontiki help [command]` asked for the help it printed.
    if (argv[0] === 'help' && (error as { code?: string }).code === 'commander.help') return 0;
    return exitCodeOf(error, running, io);
  }
}

main(process.argv.slice(2), processOutput).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`kontiki: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
