// Runs a Verdaccio registry for the release test: `node verdaccio-server.mjs DIR`. It serves
// only what is published to it (no uplinks: nothing is proxied to another registry), keeps
// everything in DIR, listens on 127.0.0.1 on a port the system picks, and prints
// `{"port":N}` once it listens. It stops when its stdin closes (the test process died) or
// on SIGTERM.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runServer } from 'verdaccio';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: verdaccio-server.mjs DIR');
const config = join(dir, 'config.yaml');
writeFileSync(
  config,
  `storage: ${join(dir, 'storage')}
auth:
  htpasswd:
    file: ${join(dir, 'htpasswd')}
    max_users: 1
uplinks: {}
packages:
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
web:
  enable: false
log: { type: stdout, format: pretty, level: warn }
`,
);
const server = await runServer(config);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
