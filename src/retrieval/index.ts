/** Retrieval: collections, ingestion storage and hybrid search (BM25 + vector, fused). */

export * from './ports.js';
export { createRetrievalRepository, type RetrievalRepositoryOptions } from './retrieval.repository.js';
export { analyze, countTerms, ANALYZER_ID, STOPWORDS, type TermCounts } from './analyzer.js';
export { reciprocalRankFusion, RRF_K, type Fused, type FusionInput } from './fusion.js';
export { maximalMarginalRelevance, type MmrParams } from './mmr.js';
export { DEFAULT_BM25, type Bm25Params } from './bm25.js';
export { DEFAULT_RANKING, defaultFusion, type FusionParams, type RankingOptions } from './search.js';
export { compileFilter } from './filters.js';
