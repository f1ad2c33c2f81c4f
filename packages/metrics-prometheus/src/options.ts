import { InvalidOptionError } from '@kontiki/core';
import { type Registry, register } from 'prom-client';

// prom-client's global registry, the default (exported for the test of the documented defaults).
export { register };

export interface PrometheusMetricsOptions {
  /**
   * The prom-client registry the series go to.
   * @defaultValue `register` (prom-client's global registry)
   */
  registry?: Registry;
  /**
   * Put before every name the node gives (`raft_has_leader` becomes `kontiki_raft_has_leader`).
   * @defaultValue `'kontiki_'`
   */
  prefix?: string;
  /**
   * Labels added to every series of this sink, e.g. `{ node: 'n1' }` when several nodes of
   * one group report to one registry (in-process tests). Sinks that share a registry must
   * use the same label names.
   * @defaultValue `{}`
   */
  labels?: Readonly<Record<string, string>>;
}

/** The options with their defaults filled in and checked. */
export function resolveOptions(
  options: PrometheusMetricsOptions,
): Required<PrometheusMetricsOptions> {
  const prefix = options.prefix ?? 'kontiki_';
  if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new InvalidOptionError(
      'prefix',
      `must start a Prometheus metric name, got ${JSON.stringify(prefix)}`,
    );
  }
  const registry = options.registry ?? register;
  // Duck-typed: another installed copy of prom-client makes registries of another class.
  if (typeof (registry as { registerMetric?: unknown } | null)?.registerMetric !== 'function') {
    throw new InvalidOptionError('registry', 'must be a prom-client Registry');
  }
  return { registry, prefix, labels: { ...options.labels } };
}
