import type { SearchHit } from '../retrieval/ports.js';
import { numberSources, type GroundingSource } from './sources.js';

/** A retrieval hit with sensible defaults, for tests. */
export function hit(overrides: Partial<SearchHit> & { text: string }): SearchHit {
  return {
    chunkId: 'chunk-1',
    documentId: 'doc-1',
    source: 'handbook.md',
    title: 'Handbook',
    headingPath: [],
    position: 0,
    metadata: {},
    score: 1,
    ...overrides,
  };
}

/** Numbered sources from plain texts: chunk ids c1…cn, documents doc1.md…docn.md. */
export function sourcesFrom(...texts: string[]): GroundingSource[] {
  return numberSources(
    texts.map((text, i) => hit({ text, chunkId: `c${i + 1}`, documentId: `d${i + 1}`, source: `doc${i + 1}.md`, title: `Doc ${i + 1}`, score: 1 - i / 10 })),
  );
}
