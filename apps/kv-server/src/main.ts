#!/usr/bin/env node
// The kv-server executable (`kontiki-kv-server --help`).
import { runServerProcess } from './server-process-main.js';

runServerProcess();
