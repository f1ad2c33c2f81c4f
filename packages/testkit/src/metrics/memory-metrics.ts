import type {
  CounterMetric,
  GaugeMetric,
  HistogramDescriptor,
  HistogramMetric,
  MetricDescriptor,
  MetricLabels,
  RaftMetrics,
} from '@kontiki/core';

/** One series a {@link MemoryMetrics} was asked for, with what it holds. */
export interface MemorySeries {
  readonly kind: 'counter' | 'gauge' | 'histogram';
  readonly name: string;
  readonly help: string;
  readonly labels: MetricLabels;
  readonly buckets: readonly number[] | undefined;
  /** A counter's total or a gauge's value (0 for a histogram). */
  readonly value: number;
  /** A histogram's observations, in order. */
  readonly observations: readonly number[];
  /** How many times the node asked for this series. */
  readonly requests: number;
}

class Series implements MemorySeries, CounterMetric, GaugeMetric, HistogramMetric {
  value = 0;
  readonly observations: number[] = [];
  requests = 0;
  constructor(
    readonly kind: MemorySeries['kind'],
    readonly name: string,
    readonly help: string,
    readonly labels: MetricLabels,
    readonly buckets: readonly number[] | undefined,
  ) {}
  inc(amount: number): void {
    if (!(amount >= 0)) throw new RangeError(`${this.name}: a counter cannot go down (${amount})`);
    this.value += amount;
  }
  set(value: number): void {
    this.value = value;
  }
  observe(value: number): void {
    this.observations.push(value);
  }
}

function keyOf(name: string, labels: MetricLabels): string {
  return JSON.stringify([name, Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))]);
}

/**
 * A {@link RaftMetrics} sink that keeps every series in memory, for tests: give it to a node
 * (`metrics: new MemoryMetrics()`) and read what the node reported with `value`,
 * `observations` and `series`. It refuses what a Prometheus registry would refuse (a
 * counter going down, one name with two kinds or two sets of label names), so a test with
 * it also checks the node's use of the interface.
 */
export class MemoryMetrics implements RaftMetrics {
  private readonly all = new Map<string, Series>();
  private readonly shapes = new Map<string, string>();

  counter(descriptor: MetricDescriptor): CounterMetric {
    return this.ask('counter', descriptor, undefined);
  }
  gauge(descriptor: MetricDescriptor): GaugeMetric {
    return this.ask('gauge', descriptor, undefined);
  }
  histogram(descriptor: HistogramDescriptor): HistogramMetric {
    return this.ask('histogram', descriptor, descriptor.buckets);
  }

  /** A counter's total or a gauge's value; undefined when nobody asked for that series. */
  value(name: string, labels: MetricLabels): number | undefined {
    return this.all.get(keyOf(name, labels))?.value;
  }

  /** A histogram's observations (none when nobody asked for that series). */
  observations(name: string, labels: MetricLabels): readonly number[] {
    return this.all.get(keyOf(name, labels))?.observations ?? [];
  }

  /** Every series asked for, in the order they were first asked for. */
  series(): readonly MemorySeries[] {
    return [...this.all.values()];
  }

  private ask(
    kind: MemorySeries['kind'],
    d: MetricDescriptor,
    buckets: readonly number[] | undefined,
  ): Series {
    const shape = `${kind} ${Object.keys(d.labels).sort().join(',')}`;
    const known = this.shapes.get(d.name);
    if (known !== undefined && known !== shape) {
      throw new TypeError(`${d.name} was asked for as "${known}" and now as "${shape}"`);
    }
    this.shapes.set(d.name, shape);
    const key = keyOf(d.name, d.labels);
    let s = this.all.get(key);
    if (s === undefined) {
      s = new Series(kind, d.name, d.help, { ...d.labels }, buckets);
      this.all.set(key, s);
    }
    s.requests++;
    return s;
  }
}
