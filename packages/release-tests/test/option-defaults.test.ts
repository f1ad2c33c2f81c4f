import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { systemClock, systemRandom } from '../../core/src/clock.js';
import { resolveOptions as resolveNodeOptions } from '../../core/src/options.js';
import {
  register,
  resolveOptions as resolvePrometheusOptions,
} from '../../metrics-prometheus/src/options.js';
import { resolveStoreOptions } from '../../storage-sqlite/src/options.js';
import { resolveOptions as resolveGrpcOptions } from '../../transport-grpc/src/options.js';
import { resolveClientOptions } from '../../transport-ws/src/client-options.js';
import { ROOT } from './support/workspace.js';

/**
 * An option's default is stated once: in its doc comment, as `@defaultValue` followed by a
 * JavaScript expression in backticks (which may name other options, e.g.
 * `electionTimeoutMs / 10`). These tests read every such tag and compare the expression's
 * value with what the package's own option resolution fills in, so the documentation (and
 * the API reference generated from it) cannot drift from the code. READMEs link to it
 * instead of repeating the defaults.
 */
interface Documented {
  readonly option: string;
  readonly expression: string;
  /** The rest of the doc comment: it must not state a default a second time. */
  readonly prose: string;
}

function documentedDefaults(file: string, interfaceName: string): Documented[] {
  const source = ts.createSourceFile(
    file,
    readFileSync(join(ROOT, file), 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  );
  const found = source.statements.find(
    (s): s is ts.InterfaceDeclaration =>
      ts.isInterfaceDeclaration(s) && s.name.text === interfaceName,
  );
  if (found === undefined) throw new Error(`${file} has no interface ${interfaceName}`);
  const out: Documented[] = [];
  for (const member of found.members) {
    if (!ts.isPropertySignature(member) || !ts.isIdentifier(member.name)) continue;
    const tag = ts.getJSDocTags(member).find((t) => t.tagName.text === 'defaultValue');
    if (tag === undefined) continue;
    const text = ts.getTextOfJSDocComment(tag.comment) ?? '';
    const expression = /`([^`]+)`/.exec(text)?.[1];
    if (expression === undefined) {
      throw new Error(`${file}: ${member.name.text}'s @defaultValue has no \`expression\``);
    }
    const docs = ts.getJSDocCommentsAndTags(member).filter(ts.isJSDoc);
    const prose = docs.map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join('\n');
    out.push({ option: member.name.text, expression, prose });
  }
  return out;
}

/** The value of a documented default, with the resolved options (and `extra`) in scope. */
function evaluate(expression: string, scope: Record<string, unknown>): unknown {
  const names = Object.keys(scope);
  return new Function(...names, `return (${expression});`)(...names.map((n) => scope[n]));
}

function checkDefaults(
  file: string,
  interfaceName: string,
  resolved: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  given: readonly string[] = [],
): Documented[] {
  const documented = documentedDefaults(file, interfaceName);
  for (const d of documented.filter((d) => !given.includes(d.option))) {
    expect({ option: d.option, has: d.option in resolved }).toEqual({
      option: d.option,
      has: true,
    });
    const stated = evaluate(d.expression, { ...extra, ...resolved });
    expect({ option: d.option, value: resolved[d.option] }).toEqual({
      option: d.option,
      value: stated,
    });
    // Stated once: not again in the comment's prose.
    expect({ option: d.option, prose: /\bdefaults?\b/i.test(d.prose) }).toEqual({
      option: d.option,
      prose: false,
    });
  }
  return documented;
}

const fn = () => undefined;
const required = {
  groupId: 'g',
  peerId: 'n1',
  transport: { call: fn, serve: fn, close: fn },
  logStorage: Object.fromEntries(
    [
      'firstIndex',
      'lastIndex',
      'entries',
      'term',
      'append',
      'truncateSuffix',
      'truncatePrefix',
      'reset',
    ].map((m) => [m, fn]),
  ),
  metaStorage: { load: fn, save: fn },
  stateMachine: { onApply: () => [] },
} as unknown as Parameters<typeof resolveNodeOptions>[0];

describe("the defaults stated in the options' doc comments", () => {
  it('are the node defaults of @kontiki/core (NodeOptions)', () => {
    const extra = { systemClock, systemRandom };
    const documented = checkDefaults(
      'packages/core/src/options.ts',
      'NodeOptions',
      { ...resolveNodeOptions(required) },
      extra,
    );
    expect(documented.map((d) => d.option)).toEqual(
      expect.arrayContaining([
        'electionTimeoutMs',
        'heartbeatIntervalMs',
        'rpcTimeoutMs',
        'maxClockDriftMs',
        'snapshotIntervalMs',
        'keepAlive',
      ]),
    );
    // The derived ones follow the election timeout.
    for (const electionTimeoutMs of [300, 5_000]) {
      checkDefaults(
        'packages/core/src/options.ts',
        'NodeOptions',
        { ...resolveNodeOptions({ ...required, electionTimeoutMs }) },
        extra,
        ['electionTimeoutMs'],
      );
    }
  });

  it('are the defaults of @kontiki/transport-grpc (GrpcTransportOptions)', () => {
    const r = resolveGrpcOptions({});
    const documented = checkDefaults(
      'packages/transport-grpc/src/options.ts',
      'GrpcTransportOptions',
      {
        ...r,
        keepaliveMs: r.channelOptions['grpc.keepalive_time_ms'],
        keepaliveTimeoutMs: r.channelOptions['grpc.keepalive_timeout_ms'],
        reconnectBackoff: {
          initialMs: r.channelOptions['grpc.initial_reconnect_backoff_ms'],
          maxMs: r.channelOptions['grpc.max_reconnect_backoff_ms'],
        },
      },
    );
    expect(documented.length).toBeGreaterThanOrEqual(8);
  });

  it('are the defaults of @kontiki/transport-ws (WsClientOptions)', () => {
    const WebSocket = class {} as unknown as NonNullable<
      Parameters<typeof resolveClientOptions>[0]['WebSocket']
    >;
    const r = resolveClientOptions({ WebSocket });
    const documented = checkDefaults(
      'packages/transport-ws/src/client-options.ts',
      'WsClientOptions',
      {
        ...r,
        reconnectBackoff: { initialMs: r.backoffInitialMs, maxMs: r.backoffMaxMs },
      },
    );
    expect(documented.length).toBeGreaterThanOrEqual(7);
  });

  it('are the defaults of @kontiki/storage-sqlite (SqliteStoreOptions)', () => {
    const documented = checkDefaults(
      'packages/storage-sqlite/src/options.ts',
      'SqliteStoreOptions',
      {
        ...resolveStoreOptions({}),
      },
    );
    expect(documented.map((d) => d.option)).toEqual(['synchronous', 'recover', 'thread']);
  });

  it('are the defaults of @kontiki/metrics-prometheus (PrometheusMetricsOptions)', () => {
    const documented = checkDefaults(
      'packages/metrics-prometheus/src/options.ts',
      'PrometheusMetricsOptions',
      { ...resolvePrometheusOptions({}) },
      { register },
    );
    expect(documented.map((d) => d.option)).toEqual(['registry', 'prefix', 'labels']);
  });

  it('would catch a default that drifted', () => {
    expect(() =>
      checkDefaults('packages/storage-sqlite/src/options.ts', 'SqliteStoreOptions', {
        ...resolveStoreOptions({}),
        thread: 'worker',
      }),
    ).toThrow();
  });
});
