import { fileURLToPath } from 'node:url';

/** The kv-server entry bundled next to the CLI in `dist`, started as child processes. */
export const SERVER_SCRIPT = fileURLToPath(new URL('./kv-server.js', import.meta.url));
