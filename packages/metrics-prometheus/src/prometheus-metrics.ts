import {
  type CounterMetric,
  type GaugeMetric,
  type HistogramDescriptor,
  type HistogramMetric,
  InvalidOptionError,
  type MetricDescriptor,
  type MetricLabels,
  type RaftMetrics,
} from '@kontiki/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { type PrometheusMetricsOptions, resolveOptions } from './options.js';

type Labels = Record<string, string>;

/** A counter's or gauge's value, kept as a plain number and handed to prom-client at scrape time. */
class Cell implements CounterMetric, GaugeMetric {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(amount: number): void {
    this.value += amount;
  }
  set(value: number): void {
    this.value = value;
  }
}

interface CellFamily {
  readonly kind: 'counter' | 'gauge';
  readonly shape: string;
  readonly cells: Map<string, Cell>;
}

interface HistogramFamily {
  readonly kind: 'histogram';
  readonly shape: string;
  readonly metric: Histogram<string>;
  readonly children: Map<string, HistogramMetric>;
}

type Family = CellFamily | HistogramFamily;

/** The series made so far in each registry, shared by every sink that reports to it. */
const families = new WeakMap<Registry, Map<string, Family>>();

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * A {@link RaftMetrics} sink on prom-client. A node asks it for each series once, when it is
 * created; counters and gauges are then plain numbers that the node adds to or sets (no
 * labels hashed, nothing allocated), copied into prom-client when the registry is scraped;
 * histograms are prom-client children made once per series.
 *
 * One sink may serve many nodes of different groups (the `group` label tells them apart), and
 * several sinks may share a registry: asked for a series that exists, a sink returns it.
 */
export class PrometheusMetrics implements RaftMetrics {
  /** The registry the series go to. */
  readonly registry: Registry;
  private readonly prefix: string;
  private readonly extra: Labels;

  constructor(options: PrometheusMetricsOptions = {}) {
    const o = resolveOptions(options);
    this.registry = o.registry;
    this.prefix = o.prefix;
    this.extra = { ...o.labels };
  }

  counter(descriptor: MetricDescriptor): CounterMetric {
    return this.cell('counter', descriptor);
  }

  gauge(descriptor: MetricDescriptor): GaugeMetric {
    return this.cell('gauge', descriptor);
  }

  histogram(descriptor: HistogramDescriptor): HistogramMetric {
    const labels = this.labelsOf(descriptor.labels);
    const family = this.family(descriptor, labels, 'histogram', (name, labelNames, shape) => ({
      kind: 'histogram',
      shape,
      metric: new Histogram({
        name,
        help: descriptor.help,
        labelNames,
        buckets: [...descriptor.buckets],
        registers: [this.registry],
      }),
      children: new Map(),
    }));
    const key = keyOf(labels);
    let child = family.children.get(key);
    if (child === undefined) {
      // A series with no observation yet shows as zeros rather than not at all.
      family.metric.zero(labels);
      child = family.metric.labels(labels);
      family.children.set(key, child);
    }
    return child;
  }

  private cell(kind: 'counter' | 'gauge', descriptor: MetricDescriptor): Cell {
    const labels = this.labelsOf(descriptor.labels);
    const family = this.family(descriptor, labels, kind, (name, labelNames, shape) => {
      const cells = new Map<string, Cell>();
      if (kind === 'counter') {
        new Counter({
          name,
          help: descriptor.help,
          labelNames,
          registers: [this.registry],
          collect(this: Counter<string>) {
            this.reset();
            for (const c of cells.values()) this.inc(c.labels, c.value);
          },
        });
      } else {
        new Gauge({
          name,
          help: descriptor.help,
          labelNames,
          registers: [this.registry],
          collect(this: Gauge<string>) {
            for (const c of cells.values()) this.set(c.labels, c.value);
          },
        });
      }
      return { kind, shape, cells };
    });
    const key = keyOf(labels);
    let cell = family.cells.get(key);
    if (cell === undefined) {
      cell = new Cell(labels);
      family.cells.set(key, cell);
    }
    return cell;
  }

  private labelsOf(labels: MetricLabels): Labels {
    return { ...this.extra, ...labels };
  }

  /** The family of `descriptor`'s name in this registry, made by `make` the first time. */
  private family<K extends Family['kind']>(
    descriptor: MetricDescriptor,
    labels: Labels,
    kind: K,
    make: (name: string, labelNames: string[], shape: string) => Extract<Family, { kind: K }>,
  ): Extract<Family, { kind: K }> {
    const name = `${this.prefix}${descriptor.name}`;
    const labelNames = Object.keys(labels).sort();
    const shape = `${kind} ${labelNames.join(',')}`;
    let byName = families.get(this.registry);
    if (byName === undefined) {
      byName = new Map();
      families.set(this.registry, byName);
    }
    const known = byName.get(name);
    if (known !== undefined) {
      if (known.shape !== shape) {
        throw new InvalidOptionError(
          'labels',
          `${name} is already registered as "${known.shape}"; now asked for as "${shape}" (sinks sharing a registry need the same label names)`,
        );
      }
      return known as Extract<Family, { kind: K }>;
    }
    const made = make(name, labelNames, shape);
    byName.set(name, made);
    return made;
  }
}
