import { fetchStatus, type StatusBody } from '@kontiki/kv-server';
import { CommandError, parse, positionals } from '../args.js';
import { resolveEndpoints } from '../cluster-file.js';
import type { Output } from '../output.js';
import { CLIENT_OPTIONS } from './kv.js';

/** Lines of a table whose columns are as wide as their widest cell. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

export function statusRows(
  endpoints: readonly string[],
  statuses: readonly (StatusBody | undefined)[],
): string[][] {
  const rows = [
    [
      'NODE',
      'ROLE',
      'TERM',
      'LEADER',
      'COMMIT',
      'APPLIED',
      'LAST LOG',
      'SNAPSHOT',
      'FIRST LOG',
      'KEYS',
      'HTTP',
    ],
  ];
  statuses.forEach((s, i) => {
    const http = endpoints[i] ?? '?';
    if (s === undefined) rows.push(['?', 'down', '-', '-', '-', '-', '-', '-', '-', '-', http]);
    else {
      rows.push([
        s.id,
        s.role,
        String(s.term),
        s.leaderId ?? '-',
        String(s.commitIndex),
        String(s.appliedIndex),
        String(s.lastLogIndex),
        String(s.snapshotIndex),
        String(s.firstLogIndex),
        String(s.keys),
        http,
      ]);
    }
  });
  return rows;
}

/** `kontiki status`: every node's role, term, leader and indexes; exit 1 if none answers. */
export async function statusCommand(argv: readonly string[], io: Output): Promise<number> {
  const args = parse(argv, CLIENT_OPTIONS);
  positionals(args, []);
  const endpoints = resolveEndpoints(args);
  const statuses = await Promise.all(endpoints.map((e) => fetchStatus(e, 2000)));
  if (args.flag('json')) io.out(JSON.stringify(statuses.map((s) => s ?? null)));
  else for (const line of table(statusRows(endpoints, statuses))) io.out(line);
  if (statuses.every((s) => s === undefined)) {
    throw new CommandError(`no node answered at ${endpoints.join(', ')}`);
  }
  return 0;
}
