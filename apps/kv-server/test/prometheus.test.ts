import { describe, expect, it } from 'vitest';
import { Counter, Histogram, Registry } from '../src/prometheus.js';

describe('the Prometheus exposition', () => {
  it('counts labels given in any order in one series, and keeps series apart by value', () => {
    const registry = new Registry();
    const c = registry.register(new Counter('kv_writes_total', 'Writes.'));
    c.inc({ op: 'put', code: 'ok' });
    c.inc({ code: 'ok', op: 'put' });
    c.inc({ op: 'put', code: 'ok' }, 3);
    c.inc({ op: 'delete', code: 'ok' });
    const lines = registry.render().split('\n');
    expect(lines).toContain('kv_writes_total{op="put",code="ok"} 5');
    expect(lines).toContain('kv_writes_total{op="delete",code="ok"} 1');
    expect(lines.filter((l) => l.startsWith('kv_writes_total{'))).toHaveLength(2);
  });

  it('a label object changed by its caller afterwards does not change the series it named', () => {
    const registry = new Registry();
    const h = registry.register(new Histogram('kv_seconds', 'Latency.', [0.1, 1]));
    const labels: Record<string, string> = { op: 'put' };
    h.observe(labels, 0.05);
    labels.op = 'delete';
    h.observe({ op: 'put' }, 0.5);
    const text = registry.render();
    expect(text).toContain('kv_seconds_bucket{op="put",le="0.1"} 1');
    expect(text).toContain('kv_seconds_bucket{op="put",le="1"} 2');
    expect(text).toContain('kv_seconds_count{op="put"} 2');
    expect(text).not.toContain('op="delete"');
  });
});
