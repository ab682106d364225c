/**
 * Bounded selection of the best k items by score, ties broken by the smaller id. The
 * tie-break is on stored chunk ids rather than in-memory slots, so two processes that
 * loaded the same rows in a different order still return the same ranking.
 */

export interface Scored {
  slot: number;
  score: number;
}

export class TopK {
  private readonly slots: Int32Array;
  private readonly scores: Float64Array;
  private readonly ids: Float64Array;
  private size = 0;

  constructor(
    private readonly k: number,
    private readonly idOf: (slot: number) => number,
  ) {
    this.slots = new Int32Array(k);
    this.scores = new Float64Array(k);
    this.ids = new Float64Array(k);
  }

  /** Quick reject for the common case of a score that cannot enter a full heap. */
  wouldAccept(score: number): boolean {
    return this.size < this.k || score >= this.scores[0];
  }

  push(slot: number, score: number): void {
    if (this.k === 0) return;
    const id = this.idOf(slot);
    if (this.size < this.k) {
      let i = this.size++;
      this.place(i, slot, score, id);
      // Sift up: the root holds the worst kept item.
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.worse(i, parent)) break;
        this.swap(i, parent);
        i = parent;
      }
      return;
    }
    if (!this.better(score, id, this.scores[0], this.ids[0])) return;
    this.place(0, slot, score, id);
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let worst = i;
      if (left < this.size && this.worse(left, worst)) worst = left;
      if (right < this.size && this.worse(right, worst)) worst = right;
      if (worst === i) break;
      this.swap(i, worst);
      i = worst;
    }
  }

  /** Best first. */
  result(): Scored[] {
    const out: Scored[] = [];
    for (let i = 0; i < this.size; i++) out.push({ slot: this.slots[i], score: this.scores[i] });
    const ids = new Map<number, number>();
    for (let i = 0; i < this.size; i++) ids.set(this.slots[i], this.ids[i]);
    return out.sort((a, b) => b.score - a.score || (ids.get(a.slot) as number) - (ids.get(b.slot) as number));
  }

  private better(score: number, id: number, otherScore: number, otherId: number): boolean {
    return score > otherScore || (score === otherScore && id < otherId);
  }

  private worse(i: number, j: number): boolean {
    return this.better(this.scores[j], this.ids[j], this.scores[i], this.ids[i]);
  }

  private place(i: number, slot: number, score: number, id: number): void {
    this.slots[i] = slot;
    this.scores[i] = score;
    this.ids[i] = id;
  }

  private swap(i: number, j: number): void {
    const slot = this.slots[i];
    const score = this.scores[i];
    const id = this.ids[i];
    this.place(i, this.slots[j], this.scores[j], this.ids[j]);
    this.place(j, slot, score, id);
  }
}
