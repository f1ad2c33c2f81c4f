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

/**
 * With several groups (`--groups`): one row per node summarising its groups (never one row
 * per group), and the leaders per node as the nodes see them.
 */
export function groupRows(
  endpoints: readonly string[],
  statuses: readonly (StatusBody | undefined)[],
): string[][] {
  const rows = [['NODE', 'GROUPS', 'LED HERE', 'WITH LEADER', 'STARTING', 'LAGGING', 'KEYS']];
  statuses.forEach((s, i) => {
    const g = s?.groups;
    if (s === undefined || g === undefined) {
      rows.push([s?.id ?? endpoints[i] ?? '?', 'down', '-', '-', '-', '-', '-']);
      return;
    }
    rows.push([
      s.id,
      String(g.count),
      String(g.ledHere),
      String(g.withLeader),
      String(g.starting),
      String(g.laggards.count),
      String(g.keys),
    ]);
  });
  return rows;
}

/**
 * The status table; with several groups, the primary group's table, then the groups'
 * summary per node, the leaders per node and the worst laggards.
 */
export function statusLines(
  endpoints: readonly string[],
  statuses: readonly (StatusBody | undefined)[],
): string[] {
  const sharded = statuses.find((s) => s?.groups !== undefined);
  if (sharded?.groups === undefined) return table(statusRows(endpoints, statuses));
  const lines = [`first group (${sharded.groupId}) of ${sharded.groups.count}:`];
  lines.push(...table(statusRows(endpoints, statuses)), '', 'all groups:');
  lines.push(...table(groupRows(endpoints, statuses)));
  // The groups led by each node, as each node knows it (the sum, once all agree: the count).
  const led = statuses
    .filter((s): s is StatusBody => s?.groups !== undefined)
    .map((s) => `${s.id} ${s.groups?.ledHere ?? 0}`);
  lines.push('', `groups led: ${led.join(', ')}`);
  const worst = statuses.flatMap((s) =>
    (s?.groups?.laggards.worst ?? []).map(
      (w) => `${s?.id} ${w.group} (applied ${w.appliedIndex} of ${w.commitIndex})`,
    ),
  );
  if (worst.length > 0) lines.push(`most behind: ${worst.slice(0, 5).join('; ')}`);
  return lines;
}

/** `kontiki status`: every node's role, term, leader and indexes; exit 1 if none answers. */
export async function statusCommand(args: Parsed, io: Output): Promise<number> {
  const endpoints = resolveEndpoints(args);
  const statuses = await Promise.all(endpoints.map((e) => fetchStatus(e, 2000)));
  if (args.flag('json')) io.out(JSON.stringify(statuses.map((s) => s ?? null)));
  else for (const line of statusLines(endpoints, statuses)) io.out(line);
  if (statuses.every((s) => s === undefined)) {
    throw new CommandError(`no node answered at ${endpoints.join(', ')}`);
  }
  return 0;
}
