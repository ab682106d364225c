/**
 * Retrieval metrics as trec_eval / pytrec_eval compute them for BEIR, binary relevance:
 * nDCG@k with the ideal ranking of all judged-relevant documents, Recall@k.
 */

/** qid → relevant doc ids (grade > 0). */
export type Qrels = Map<string, Set<string>>;

export function parseQrels(tsv: string): Qrels {
  const qrels: Qrels = new Map();
  for (const line of tsv.split(/\r?\n/)) {
    const [qid, docid, score] = line.split('\t');
    if (!qid || !docid || qid === 'query-id' || !(Number(score) > 0)) continue;
    let set = qrels.get(qid);
    if (!set) qrels.set(qid, (set = new Set()));
    set.add(docid);
  }
  return qrels;
}

export function ndcgAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  let dcg = 0;
  const seen = new Set<string>();
  for (let i = 0; i < Math.min(k, ranked.length); i++) {
    if (relevant.has(ranked[i]) && !seen.has(ranked[i])) dcg += 1 / Math.log2(i + 2);
    seen.add(ranked[i]);
  }
  let ideal = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

export function recallAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  if (relevant.size === 0) return 0;
  const found = new Set(ranked.slice(0, k).filter((id) => relevant.has(id)));
  return found.size / relevant.size;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}
