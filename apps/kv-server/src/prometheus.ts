/**
 * The Prometheus text exposition format (version 0.0.4), hand-written: counters, gauges
 * and histograms with labels. Small on purpose; the server needs a dozen series.
 */

export type Labels = Readonly<Record<string, string>>;

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, extra?: readonly [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push([extra[0], extra[1]]);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function numberText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

/** Label values joined into one map key (sorted: the same labels in any order are one series). */
function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

interface IndexNode<S> {
  readonly children: Map<string, IndexNode<S>>;
  series?: S;
}

/**
 * A metric's series by their labels, found without building a key string per update: a
 * tree walked label by label (name, then value), in the order the caller wrote them. Metrics
 * are updated for every request; `JSON.stringify` of the labels per update was a measurable
 * part of a server's CPU. The first time a path is seen it is tied to its series by a
 * canonical key, so labels written in another order still count in the same series.
 */
class SeriesIndex<S> {
  private readonly root: IndexNode<S> = { children: new Map() };
  private readonly byKey = new Map<string, S>();

  get(labels: Labels, create: () => S): S {
    let node = this.root;
    for (const name in labels) {
      node = child(child(node, name), labels[name] as string);
    }
    if (node.series !== undefined) return node.series;
    const key = keyOf(labels);
    let series = this.byKey.get(key);
    if (series === undefined) {
      series = create();
      this.byKey.set(key, series);
    }
    node.series = series;
    return series;
  }

  values(): IterableIterator<S> {
    return this.byKey.values();
  }
}

function child<S>(node: IndexNode<S>, key: string): IndexNode<S> {
  let next = node.children.get(key);
  if (next === undefined) {
    next = { children: new Map() };
    node.children.set(key, next);
  }
  return next;
}

interface Metric {
  render(out: string[]): void;
}

function header(out: string[], name: string, help: string, type: string): void {
  out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
}

export class Counter implements Metric {
  private readonly values = new SeriesIndex<{ labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    this.values.get(labels, () => ({ labels: { ...labels }, value: 0 })).value += by;
  }

  render(out: string[]): void {
    header(out, this.name, this.help, 'counter');
    for (const { labels, value } of this.values.values()) {
      out.push(`${this.name}${labelText(labels)} ${numberText(value)}`);
    }
  }
}

/** A gauge whose samples are read when scraped. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly sample: () => ReadonlyArray<readonly [Labels, number]>,
  ) {}

  render(out: string[]): void {
    header(out, this.name, this.help, 'gauge');
    for (const [labels, value] of this.sample()) {
      out.push(`${this.name}${labelText(labels)} ${numberText(value)}`);
    }
  }
}

interface HistogramSeries {
  readonly labels: Labels;
  readonly counts: number[];
  sum: number;
  count: number;
}

export class Histogram implements Metric {
  private readonly series = new SeriesIndex<HistogramSeries>();
  constructor(
    readonly name: string,
    private readonly help: string,
    /** Upper bounds, ascending; +Inf is implied. */
    private readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const s = this.series.get(labels, () => ({
      labels: { ...labels },
      counts: this.buckets.map(() => 0),
      sum: 0,
      count: 0,
    }));
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= (this.buckets[i] as number)) s.counts[i] = (s.counts[i] as number) + 1;
    }
    s.sum += value;
    s.count++;
  }

  render(out: string[]): void {
    header(out, this.name, this.help, 'histogram');
    for (const s of this.series.values()) {
      // Counts are kept per bucket already cumulative (observe adds to every bucket >= value).
      this.buckets.forEach((le, i) => {
        out.push(
          `${this.name}_bucket${labelText(s.labels, ['le', numberText(le)])} ${s.counts[i] ?? 0}`,
        );
      });
      out.push(`${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${numberText(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
  }
}

/** A set of metrics rendered together. */
export class Registry {
  private readonly metrics: Metric[] = [];

  register<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }

  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return `${out.join('\n')}\n`;
  }
}
