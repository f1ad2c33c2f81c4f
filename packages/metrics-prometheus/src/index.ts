/**
 * Prometheus metrics for Kontiki Raft nodes, through prom-client: give a node
 * `metrics: new PrometheusMetrics()` and its series (has leader, leadership changes,
 * proposals committed / applied / pending / failed, log sync durations, round trips to each
 * follower, snapshot durations) appear in prom-client's registry under etcd's names with a
 * `kontiki_` prefix. The package README lists them.
 *
 * @example
 * ```ts
 * import { RaftNode } from '@kontiki/core';
 * import { PrometheusMetrics } from '@kontiki/metrics-prometheus';
 * import { collectDefaultMetrics, register } from 'prom-client';
 *
 * collectDefaultMetrics(); // the process's own metrics, beside the node's
 * const node = new RaftNode({ ...options, metrics: new PrometheusMetrics() });
 * // serve `await register.metrics()` at /metrics
 * ```
 *
 * @packageDocumentation
 */
export type { PrometheusMetricsOptions } from './options.js';
export { PrometheusMetrics } from './prometheus-metrics.js';
