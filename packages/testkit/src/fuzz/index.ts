/**
 * Hostile input for Raft endpoints, as seeded fast-check arbitraries
 * (`@kontiki/testkit/fuzz`): what a stranger or a broken peer sends to a transport — random
 * bytes, damaged frames, envelopes with out-of-range fields, takeover attempts with huge
 * terms, frames a client may not send — and an oracle that tells which of them an
 * authenticated member may send without changing a node's state.
 *
 * `fuzzSettings()` reads `KONTIKI_FUZZ=long` (the long mode of `pnpm fuzz --long`) and
 * `KONTIKI_FUZZ_SEED`, so that every fuzz test is short in `pnpm test` and replayable.
 *
 * @packageDocumentation
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import {
  decodeFrame,
  encodeErrorFrame,
  encodeHello,
  encodeRequestFrame,
  encodeResponseFrame,
  PROTOCOL_VERSION,
  splitBatch,
  WIRE_LIMITS,
  wire,
} from '@kontiki/protocol';
import fc from 'fast-check';

export { fc };

export interface FuzzSettings {
  readonly long: boolean;
  readonly seed: number;
  /** Scales a count: `short` in `pnpm test`, `long` with KONTIKI_FUZZ=long. */
  count(short: number, long: number): number;
}

export function fuzzSettings(): FuzzSettings {
  const long = process.env.KONTIKI_FUZZ === 'long';
  const seed = Number(process.env.KONTIKI_FUZZ_SEED ?? 20_240_601);
  return { long, seed, count: (short, longCount) => (long ? longCount : short) };
}

/** Writes a fuzz run's figures where `pnpm fuzz` collects them (KONTIKI_FUZZ_REPORT_DIR). */
export function reportFuzz(name: string, figures: Record<string, unknown>): void {
  const dir = process.env.KONTIKI_FUZZ_REPORT_DIR;
  const line = JSON.stringify({ fuzz: name, ...figures });
  if (dir === undefined) {
    if (process.env.KONTIKI_FUZZ === 'long') console.log(line);
    return;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${line}\n`);
}

/** Resident set size of this process, in MiB. */
export function rssMiB(): number {
  return Math.round((process.memoryUsage().rss / 1024 / 1024) * 10) / 10;
}

/** This process's memory after a forced collection and a settle (`settledMemory`), in MiB. */
export interface SettledMemory {
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  /** Memory of C++ objects bound to JavaScript ones, array buffers included. */
  readonly externalMiB: number;
  readonly arrayBuffersMiB: number;
  /** Memory V8 allocated with malloc (compiler zones and the like), outside the heap. */
  readonly v8MallocedMiB: number;
  /**
   * RSS split (Linux, /proc/self/status): anonymous pages (heaps, malloc) and pages of mapped
   * files (the node binary, libraries), which grow as more of their code runs for the first
   * time and are not memory the process holds for data. Undefined elsewhere.
   */
  readonly rssAnonMiB: number | undefined;
  readonly rssFileMiB: number | undefined;
  /** Whether a collection could be forced (node was started with `--expose-gc`). */
  readonly gcForced: boolean;
}

/** One point of a MemoryWatch: settled memory after `done` units of work. */
export interface MemoryPoint extends SettledMemory {
  readonly done: number;
}

/** What a fuzz run reports of memory (see MemoryWatch). */
export interface MemoryReport {
  /** Once warm: after the server is up and the first unit of work (a batch) went through. */
  readonly memoryStart: MemoryPoint;
  /** A quarter of the way (the first checkpoint), when the run has reached its pace. */
  readonly memoryWarm: MemoryPoint;
  readonly memoryEnd: MemoryPoint;
  /** End RSS / start RSS. */
  readonly rssGrowth: number;
  /** End RSS / RSS a quarter of the way. */
  readonly rssGrowthSinceWarm: number;
  /** RSS, heap used and V8's heap size at every checkpoint, in MiB. */
  readonly curve: ReadonlyArray<{
    done: number;
    rssMiB: number;
    heapUsedMiB: number;
    heapTotalMiB: number;
  }>;
}

/**
 * Settled memory (`settledMemory`) at the start of a run, at `checkpoints` evenly spaced points
 * through it, and at its end: the curve tells a leak (growing with the work) from a heap or an
 * allocator that sizes itself once to the run's pace (growing early, then flat).
 */
export class MemoryWatch {
  private readonly points: MemoryPoint[] = [];
  private nextCheckpoint = 0;

  constructor(
    private readonly total: number,
    private readonly checkpoints = 4,
  ) {}

  /** Call after each unit of work with the count done so far: measures when one is due. */
  async after(done: number): Promise<void> {
    // The end is measured by finish().
    if (this.points.length > 0 && (done < this.nextCheckpoint || done >= this.total)) return;
    this.points.push({ done, ...(await settledMemory()) });
    const step = this.total / this.checkpoints;
    this.nextCheckpoint = (Math.floor(done / step) + 1) * step;
  }

  /** Measures the end and reports. */
  async finish(done: number): Promise<MemoryReport> {
    const end: MemoryPoint = { done, ...(await settledMemory()) };
    const start = this.points[0] ?? end;
    const warm = this.points[1] ?? start;
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    return {
      memoryStart: start,
      memoryWarm: warm,
      memoryEnd: end,
      rssGrowth: ratio(end.rssMiB, start.rssMiB),
      rssGrowthSinceWarm: ratio(end.rssMiB, warm.rssMiB),
      curve: [...this.points, end].map((p) => ({
        done: p.done,
        rssMiB: p.rssMiB,
        heapUsedMiB: p.heapUsedMiB,
        heapTotalMiB: p.heapTotalMiB,
      })),
    };
  }
}

/** The kB fields of /proc/self/status, in bytes (empty where there is no /proc). */
function procStatus(): Record<string, number> {
  const out: Record<string, number> = {};
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m) out[m[1] as string] = Number(m[2]) * 1024;
  }
  return out;
}

const mib = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

/**
 * Memory of this process once garbage is collected: forces full collections (when node runs
 * with `--expose-gc`, as `pnpm fuzz --long` starts it), lets pending callbacks and sockets
 * close for `settleMs`, collects again, then reads RSS and heap statistics. Without
 * `--expose-gc` it only settles, and says so (`gcForced: false`).
 */
export async function settledMemory(settleMs = 500): Promise<SettledMemory> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const collect = async (): Promise<void> => {
    // Several passes: finalizers and weak callbacks free more on the next collection.
    for (let i = 0; i < 3; i++) {
      gc?.();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  await collect();
  await new Promise<void>((resolve) => setTimeout(resolve, settleMs));
  await collect();
  const m = process.memoryUsage();
  const status = procStatus();
  return {
    rssMiB: mib(m.rss),
    heapUsedMiB: mib(m.heapUsed),
    heapTotalMiB: mib(m.heapTotal),
    externalMiB: mib(m.external),
    arrayBuffersMiB: mib(m.arrayBuffers),
    v8MallocedMiB: mib(getHeapStatistics().malloced_memory),
    rssAnonMiB: status.RssAnon === undefined ? undefined : mib(status.RssAnon),
    rssFileMiB: status.RssFile === undefined ? undefined : mib(status.RssFile),
    gcForced: gc !== undefined,
  };
}

const MAX = BigInt(WIRE_LIMITS.maxTermOrIndex);
const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 8n }),
  fc.bigInt({ min: MAX - 2n, max: MAX + 2n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);

export interface FrameContext {
  /** The group the endpoint serves (hostile frames mostly aim at it). */
  readonly groupId: string;
  /** The endpoint's peer id (the `to` of well-aimed frames). */
  readonly target: string;
}

/**
 * One frame a hostile client could send. Roughly: a fifth random bytes, a fifth damaged
 * valid frames, a fifth envelopes with out-of-range or malformed fields, a fifth takeover
 * attempts (valid requests from a stranger with a term of 2^53 - 2, entries, snapshots,
 * configurations that drop every member), and the rest frames of the wrong kind (hellos,
 * answers, errors) and requests for other groups.
 */
export function hostileFrame(ctx: FrameContext): fc.Arbitrary<Uint8Array> {
  const id = fc.oneof(
    fc.constantFrom('intruder', ctx.target, 'n2', '', 'x'.repeat(300), 'n1\nforged'),
    fc.string({ maxLength: 12 }),
  );
  const group = fc.oneof(fc.constant(ctx.groupId), fc.constantFrom('other', ''), fc.string());
  const header = fc.record({ groupId: group, from: id, to: id, term: u64 });
  const entries = fc.array(
    fc.record({
      index: u64,
      term: u64,
      type: fc.integer({ min: 0, max: 3 }) as fc.Arbitrary<wire.EntryType>,
      data: fc.uint8Array({ maxLength: 32 }),
    }),
    { maxLength: 4 },
  );
  const conf = fc.record({
    voters: fc.array(id, { maxLength: 3 }),
    oldVoters: fc.array(id, { maxLength: 2 }),
    learners: fc.array(id, { maxLength: 2 }),
  });
  const body: fc.Arbitrary<NonNullable<Parameters<typeof wire.Envelope.encode>[0]['body']>> =
    fc.oneof(
      fc
        .record({
          header,
          preVote: fc.boolean(),
          lastLogIndex: u64,
          lastLogTerm: u64,
          disruptedLeader: fc.option(fc.record({ peerId: id, term: u64 }), { nil: undefined }),
        })
        .map((value) => ({ $case: 'requestVoteRequest' as const, value })),
      fc
        .record({ header, prevLogIndex: u64, prevLogTerm: u64, entries, leaderCommit: u64 })
        .map((value) => ({ $case: 'appendEntriesRequest' as const, value })),
      fc
        .record({
          header,
          meta: fc.record({ lastIncludedIndex: u64, lastIncludedTerm: u64, configuration: conf }),
          offset: u64,
          data: fc.uint8Array({ maxLength: 32 }),
          done: fc.boolean(),
        })
        .map((value) => ({ $case: 'installSnapshotRequest' as const, value })),
      header.map((h) => ({ $case: 'timeoutNowRequest' as const, value: { header: h } })),
      header.map((h) => ({ $case: 'readIndexRequest' as const, value: { header: h } })),
    );
  const envelope = fc
    .record({
      callId: fc.oneof(fc.bigInt({ min: 0n, max: 100n }), u64),
      method: fc.integer({ min: 0, max: 7 }) as fc.Arbitrary<wire.Method>,
      timeoutMs: fc.nat(),
      body,
    })
    .map((e) => wire.Envelope.encode(e).finish());

  const m = Number(MAX);
  const takeover = fc.nat({ max: 1000 }).map((n) => {
    const from = n % 2 === 0 ? 'intruder' : 'n2';
    const h = { groupId: ctx.groupId, from, to: ctx.target, term: m };
    switch (n % 4) {
      case 0:
        return encodeRequestFrame(n, 'appendEntries', {
          ...h,
          prevLogIndex: n,
          prevLogTerm: 0,
          leaderCommit: n + 1,
          entries: [{ index: n + 1, term: m, type: 1, data: new Uint8Array([n & 0xff]) }],
        });
      case 1:
        return encodeRequestFrame(n, 'requestVote', {
          ...h,
          preVote: false,
          lastLogIndex: m,
          lastLogTerm: m,
        });
      case 2:
        return encodeRequestFrame(n, 'installSnapshot', {
          ...h,
          meta: {
            lastIncludedIndex: m - 1,
            lastIncludedTerm: m,
            configuration: { voters: [from] },
          },
          offset: 0,
          data: new Uint8Array([1, 2, 3]),
          done: true,
        });
      default:
        return encodeRequestFrame(n, 'timeoutNow', h);
    }
  });

  const damaged = fc
    .tuple(
      fc.oneof(envelope, takeover),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 3,
      }),
      fc.nat({ max: 5 }),
    )
    .map(([bytes, edits, cut]) => {
      const out = Uint8Array.from(bytes);
      for (const [at, value] of edits) if (out.length > 0) out[at % out.length] = value;
      return out.subarray(0, Math.max(0, out.length - cut));
    });

  const wrongKind = fc.oneof(
    fc.string({ maxLength: 20 }).map((t) => encodeHello(PROTOCOL_VERSION, t)),
    fc.nat().map((n) => encodeHello(n, 'x')),
    fc
      .nat({ max: 100 })
      .map((n) => encodeResponseFrame(n, 'readIndex', { term: 1, success: true, readIndex: n })),
    fc.nat({ max: 100 }).map((n) => encodeErrorFrame(n, new Error('from a client'))),
  );

  return fc.oneof(fc.uint8Array({ maxLength: 64 }), damaged, envelope, takeover, wrongKind);
}

/**
 * Whether an authenticated member may send `frame` and leave a node of `groupId` whose term
 * is `nodeTerm` exactly as it was: anything that does not decode to a request of that group,
 * plus requests Raft refuses or answers without a change (an older term, a pre-vote, a read
 * index). Raft trusts its members (it is not Byzantine fault tolerant): a well-formed
 * request of a later term from a member may rightly change the node, so fuzzing an
 * authenticated connection sends only what this accepts.
 */
export function harmlessFromMember(frame: Uint8Array, groupId: string, nodeTerm: number): boolean {
  // A message may be a batch of envelopes (protocol version 2): harmless when each one is.
  let envelopes: Uint8Array[];
  try {
    envelopes = splitBatch(frame);
  } catch {
    return true;
  }
  return envelopes.every((e) => harmlessEnvelope(e, groupId, nodeTerm));
}

function harmlessEnvelope(frame: Uint8Array, groupId: string, nodeTerm: number): boolean {
  let decoded: ReturnType<typeof decodeFrame>;
  try {
    decoded = decodeFrame(frame);
  } catch {
    return true;
  }
  if (decoded.kind !== 'request' || decoded.request.groupId !== groupId) return true;
  if (decoded.method === 'readIndex') return true;
  if (decoded.method === 'requestVote' && (decoded.request as { preVote: boolean }).preVote) {
    return true;
  }
  return decoded.request.term < nodeTerm;
}

/**
 * Whether a frame ends the connection it arrives on (bytes that are not an envelope, or a
 * frame a client may not send) rather than failing only its call. A fuzzer puts such a frame
 * last, so that every frame before it is read.
 */
export function endsConnection(frame: Uint8Array): boolean {
  try {
    // A batch (protocol version 2) ends it when any envelope in it does.
    return splitBatch(frame).some((envelope) => {
      const kind = decodeFrame(envelope).kind;
      return kind !== 'request' && kind !== 'invalid';
    });
  } catch {
    return true;
  }
}

/**
 * Orders a batch for one connection: every frame that fails only its call first, then
 * `probe`, then at most one frame that ends the connection.
 */
export function orderForOneConnection(
  frames: readonly Uint8Array[],
  probe: Uint8Array,
): Uint8Array[] {
  const survivable = frames.filter((f) => !endsConnection(f));
  const fatal = frames.find((f) => endsConnection(f));
  return [...survivable, probe, ...(fatal === undefined ? [] : [fatal])];
}

/** A request for a group nobody serves: its UNKNOWN_GROUP answer marks the end of a batch. */
export function probeFrame(callId: number, target: string): Uint8Array {
  return encodeRequestFrame(callId, 'readIndex', {
    groupId: 'fuzz-probe-no-such-group',
    from: 'fuzzer',
    to: target,
    term: 0,
  });
}
