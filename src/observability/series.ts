/**
 * Counters and histograms for the series every run and every request touch, kept by hand and
 * rendered in Prometheus' text format at scrape time. Why not prom-client for these: it
 * validates and hashes the label set on every observation, even through a child it handed out,
 * and a CPU profile of `bench:gateway` put ~16 µs per gateway request there (the gateway's own
 * CPU is ~180 µs). Here a label set is found through nested Maps keyed by its values (no string
 * is built per observation) and an observation is a few additions. The metrics nobody touches
 * per request stay in prom-client's registry; `render` appends these to its text.
 */

interface Slot {
  value: number;
  count: number;
  buckets: number[];
}

type Tree = Map<string, Tree | Slot>;

abstract class Family {
  private readonly root: Tree = new Map();
  private readonly slots: Array<{ labels: readonly string[]; slot: Slot }> = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    protected readonly bounds: readonly number[] = [],
  ) {}

  /** The slot of these label values (as many as labelNames, in their order). */
  protected slot(values: readonly string[]): Slot {
    let node: Tree = this.root;
    for (let i = 0; i < values.length - 1; i++) {
      let next = node.get(values[i]) as Tree | undefined;
      if (!next) {
        next = new Map();
        node.set(values[i], next);
      }
      node = next;
    }
    const last = values[values.length - 1];
    let slot = node.get(last) as Slot | undefined;
    if (!slot) {
      slot = { value: 0, count: 0, buckets: this.bounds.map(() => 0) };
      node.set(last, slot);
      this.slots.push({ labels: [...values], slot });
    }
    return slot;
  }

  protected abstract lines(labels: string, slot: Slot): string[];

  protected abstract readonly type: 'counter' | 'histogram';

  render(): string {
    if (this.slots.length === 0) return '';
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, slot } of this.slots) {
      out.push(...this.lines(labels.map((value, i) => `${this.labelNames[i]}="${escapeLabel(value)}"`).join(','), slot));
    }
    return `${out.join('\n')}\n`;
  }
}

export class FastCounter extends Family {
  protected readonly type = 'counter';

  inc(values: readonly string[], by = 1): void {
    this.slot(values).value += by;
  }

  protected lines(labels: string, slot: Slot): string[] {
    return [`${this.name}{${labels}} ${slot.value}`];
  }
}

export class FastHistogram extends Family {
  protected readonly type = 'histogram';

  observe(values: readonly string[], value: number): void {
    const slot = this.slot(values);
    slot.value += value;
    slot.count += 1;
    // Buckets are counted where the value falls; cumulated when rendered.
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    if (i < bounds.length) slot.buckets[i] += 1;
  }

  protected lines(labels: string, slot: Slot): string[] {
    const out: string[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += slot.buckets[i];
      out.push(`${this.name}_bucket{${labels},le="${bound}"} ${cumulative}`);
    });
    out.push(
      `${this.name}_bucket{${labels},le="+Inf"} ${slot.count}`,
      `${this.name}_sum{${labels}} ${slot.value}`,
      `${this.name}_count{${labels}} ${slot.count}`,
    );
    return out;
  }
}

/** A label value in the text format: backslash, double quote and newline escaped. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
