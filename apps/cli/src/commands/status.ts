import { fetchStatus, type StatusBody } from '@kontiki/kv-server';
import Table from 'cli-table3';
import { CommandError, type Parsed } from '../args.js';
import { resolveEndpoints } from '../cluster-file.js';
import type { Output } from '../output.js';

/** Every border and separator of a cli-table3 table (all blank: columns only). */
const BORDER_CHARS = [
  'top',
  'top-mid',
  'top-left',
  'top-right',
  'bottom',
  'bottom-mid',
  'bottom-left',
  'bottom-right',
  'left',
  'left-mid',
  'mid',
  'mid-mid',
  'right',
  'right-mid',
  'middle',
];

/** Lines of a borderless table whose columns are as wide as their widest cell. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const [head, ...body] = rows;
  const t = new Table({
    head: [...(head ?? [])],
    chars: Object.fromEntries(BORDER_CHARS.map((c) => [c, ''])),
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2, compact: true },
  });
  t.push(...body.map((row) => [...row]));
  return t
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line !== '');
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
export async function statusCommand(args: Parsed, io: Output): Promise<number> {
  const endpoints = resolveEndpoints(args);
  const statuses = await Promise.all(endpoints.map((e) => fetchStatus(e, 2000)));
  if (args.flag('json')) io.out(JSON.stringify(statuses.map((s) => s ?? null)));
  else for (const line of table(statusRows(endpoints, statuses))) io.out(line);
  if (statuses.every((s) => s === undefined)) {
    throw new CommandError(`no node answered at ${endpoints.join(', ')}`);
  }
  return 0;
}
