// The kv-server process that the CLI starts (bundled from @kontiki/kv-server).
import { runServerProcess } from '@kontiki/kv-server';

runServerProcess();
