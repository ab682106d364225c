import { describe, expect, it } from 'vitest';
import { FastCounter, FastHistogram } from './series.js';

/** The hand-kept series render what Prometheus' text format says: cumulative buckets, escaped labels. */

describe('hand-kept series', () => {
  it('renders a histogram with cumulative buckets, +Inf, sum and count per label set', () => {
    const h = new FastHistogram('x_seconds', 'help text', ['route'], [0.1, 1]);
    h.observe(['/a'], 0.05);
    h.observe(['/a'], 0.5);
    h.observe(['/a'], 5);
    h.observe(['/b'], 1);
    expect(h.render()).toBe(
      [
        '# HELP x_seconds help text',
        '# TYPE x_seconds histogram',
        'x_seconds_bucket{route="/a",le="0.1"} 1',
        'x_seconds_bucket{route="/a",le="1"} 2',
        'x_seconds_bucket{route="/a",le="+Inf"} 3',
        'x_seconds_sum{route="/a"} 5.55',
        'x_seconds_count{route="/a"} 3',
        'x_seconds_bucket{route="/b",le="0.1"} 0',
        'x_seconds_bucket{route="/b",le="1"} 1',
        'x_seconds_bucket{route="/b",le="+Inf"} 1',
        'x_seconds_sum{route="/b"} 1',
        'x_seconds_count{route="/b"} 1',
        '',
      ].join('\n'),
    );
  });

  it('renders counters, escaping label values, and nothing before the first observation', () => {
    const c = new FastCounter('y_total', 'help', ['task', 'model']);
    expect(c.render()).toBe('');
    c.inc(['a"b\\c\nd', 'm']);
    c.inc(['a"b\\c\nd', 'm'], 2);
    expect(c.render()).toBe('# HELP y_total help\n# TYPE y_total counter\ny_total{task="a\\"b\\\\c\\nd",model="m"} 3\n');
  });
});
