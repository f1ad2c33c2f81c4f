/**
 * Ranks what a V8 heap snapshot holds by class: for every constructor name (closures by
 * function name, arrays, strings, ...), the count, the self size and the retained size (what
 * would be freed with those objects: the sizes of the objects they dominate in the heap
 * graph, counted once per class even when one object of the class dominates another).
 * Divide by `--per N` (e.g. the number of nodes in the snapshot) for a per-node figure.
 *
 * `pnpm run bench:heap-retainers FILE.heapsnapshot [--per 3000] [--top 40]`. Prints one JSON
 * value on stdout.
 */
import { readFileSync } from 'node:fs';
import { int } from './cli-args.js';

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: string[];
      readonly node_types: [string[], ...unknown[]];
      readonly edge_fields: string[];
      readonly edge_types: [string[], ...unknown[]];
    };
  };
  readonly nodes: number[];
  readonly edges: number[];
  readonly strings: string[];
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const file = process.argv.slice(2).find((a) => a.endsWith('.heapsnapshot'));
if (file === undefined) throw new Error('usage: heap-retainers FILE.heapsnapshot [--per N]');
const per = int('per', arg('per', '1'), 1, 10_000_000);
const top = int('top', arg('top', '40'), 1, 10_000);

const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const meta = snap.snapshot.meta;
const nf = meta.node_fields.length;
const ef = meta.edge_fields.length;
const nTypeField = meta.node_fields.indexOf('type');
const nNameField = meta.node_fields.indexOf('name');
const nSizeField = meta.node_fields.indexOf('self_size');
const nEdgeCountField = meta.node_fields.indexOf('edge_count');
const eTypeField = meta.edge_fields.indexOf('type');
const eToField = meta.edge_fields.indexOf('to_node');
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const weakEdge = edgeTypes.indexOf('weak');
const count = snap.nodes.length / nf;

// Edges of node i are firstEdge[i] .. firstEdge[i+1] (in units of edge records).
const firstEdge = new Uint32Array(count + 1);
for (let i = 0; i < count; i++) {
  firstEdge[i + 1] = (firstEdge[i] ?? 0) + (snap.nodes[i * nf + nEdgeCountField] ?? 0);
}
const target = (e: number) => (snap.edges[e * ef + eToField] ?? 0) / nf;
const strong = (e: number) => snap.edges[e * ef + eTypeField] !== weakEdge;

/** The class an object is counted under. */
function classOf(i: number): string {
  const type = nodeTypes[snap.nodes[i * nf + nTypeField] ?? 0] ?? '?';
  const name = snap.strings[snap.nodes[i * nf + nNameField] ?? 0] ?? '';
  switch (type) {
    case 'object':
    case 'native':
      return name.length > 60 ? `${name.slice(0, 60)}…` : name;
    case 'closure':
      return `(closure ${name || 'anonymous'})`;
    case 'hidden':
    case 'code':
    case 'object shape':
      return `(${type} ${name.slice(0, 40)})`;
    default:
      return `(${type})`;
  }
}

// Dominators (Cooper, Harvey and Kennedy's iterative algorithm) over the strong edges from
// the root, node 0, in reverse postorder.
const order = new Int32Array(count).fill(-1); // postorder number
const post: number[] = [];
{
  const stack: number[] = [0];
  const next = new Uint32Array(count); // next edge to visit, per node
  const seen = new Uint8Array(count);
  seen[0] = 1;
  for (let i = 0; i < count; i++) next[i] = firstEdge[i] ?? 0;
  while (stack.length > 0) {
    const v = stack[stack.length - 1] ?? 0;
    const end = firstEdge[v + 1] ?? 0;
    let pushed = false;
    while ((next[v] ?? 0) < end) {
      const e = next[v] ?? 0;
      next[v] = e + 1;
      if (!strong(e)) continue;
      const w = target(e);
      if (seen[w] === 0) {
        seen[w] = 1;
        stack.push(w);
        pushed = true;
        break;
      }
    }
    if (!pushed) {
      stack.pop();
      order[v] = post.length;
      post.push(v);
    }
  }
}
// Predecessors of every reachable node.
const predCount = new Uint32Array(count + 1);
for (let v = 0; v < count; v++) {
  if ((order[v] ?? -1) < 0) continue;
  for (let e = firstEdge[v] ?? 0; e < (firstEdge[v + 1] ?? 0); e++) {
    if (strong(e)) predCount[target(e) + 1] = (predCount[target(e) + 1] ?? 0) + 1;
  }
}
for (let i = 0; i < count; i++) predCount[i + 1] = (predCount[i + 1] ?? 0) + (predCount[i] ?? 0);
const preds = new Uint32Array(predCount[count] ?? 0);
{
  const fill = predCount.slice();
  for (let v = 0; v < count; v++) {
    if ((order[v] ?? -1) < 0) continue;
    for (let e = firstEdge[v] ?? 0; e < (firstEdge[v + 1] ?? 0); e++) {
      if (!strong(e)) continue;
      const w = target(e);
      preds[fill[w] ?? 0] = v;
      fill[w] = (fill[w] ?? 0) + 1;
    }
  }
}
const idom = new Int32Array(count).fill(-1);
idom[0] = 0;
const intersect = (a: number, b: number) => {
  let x = a;
  let y = b;
  while (x !== y) {
    while ((order[x] ?? 0) < (order[y] ?? 0)) x = idom[x] ?? 0;
    while ((order[y] ?? 0) < (order[x] ?? 0)) y = idom[y] ?? 0;
  }
  return x;
};
for (let changed = true, rounds = 0; changed && rounds < 1000; rounds++) {
  changed = false;
  for (let k = post.length - 2; k >= 0; k--) {
    const v = post[k] ?? 0;
    let d = -1;
    for (let p = predCount[v] ?? 0; p < (predCount[v + 1] ?? 0); p++) {
      const u = preds[p] ?? 0;
      if ((idom[u] ?? -1) < 0) continue;
      d = d < 0 ? u : intersect(u, d);
    }
    if (d >= 0 && idom[v] !== d) {
      idom[v] = d;
      changed = true;
    }
  }
}
// Retained sizes: children before parents (postorder).
const retained = new Float64Array(count);
for (const v of post) retained[v] = (retained[v] ?? 0) + (snap.nodes[v * nf + nSizeField] ?? 0);
for (const v of post) {
  const d = idom[v] ?? 0;
  if (v !== 0) retained[d] = (retained[d] ?? 0) + (retained[v] ?? 0);
}

// Per class: count, self, and retained not already inside another object of the same class.
interface Row {
  count: number;
  self: number;
  retained: number;
}
const rows = new Map<string, Row>();
const cls: string[] = new Array(count);
for (let v = 0; v < count; v++) cls[v] = classOf(v);
for (const v of post) {
  const c = cls[v] ?? '';
  let row = rows.get(c);
  if (row === undefined) {
    row = { count: 0, self: 0, retained: 0 };
    rows.set(c, row);
  }
  row.count++;
  row.self += snap.nodes[v * nf + nSizeField] ?? 0;
  // Counted once: skip when a dominator up the chain is of the same class.
  let d = idom[v] ?? 0;
  let nested = false;
  for (let hops = 0; d !== 0 && hops < 10_000; hops++) {
    if (cls[d] === c) {
      nested = true;
      break;
    }
    d = idom[d] ?? 0;
  }
  if (!nested) row.retained += retained[v] ?? 0;
}
const round = (n: number) => Math.round((n / per) * 10) / 10;
const ranked = (key: 'self' | 'retained') =>
  [...rows.entries()]
    .sort((a, b) => b[1][key] - a[1][key])
    .slice(0, top)
    .map(([name, r]) => ({
      name,
      count: round(r.count),
      self: round(r.self),
      retained: round(r.retained),
    }));
let total = 0;
for (const v of post) total += snap.nodes[v * nf + nSizeField] ?? 0;
process.stdout.write(
  `${JSON.stringify(
    {
      file,
      per,
      reachableObjects: post.length,
      totalSelfBytes: round(total),
      bySelf: ranked('self'),
      byRetained: ranked('retained'),
    },
    null,
    1,
  )}\n`,
);
