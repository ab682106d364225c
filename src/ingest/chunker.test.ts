import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { chunkDocument } from './chunker.js';
import type { Block, ChunkDraft, ParsedDocument } from './types.js';

const WORDS = 'harbor dawn fishing boats pilots tanker cargo ships tide quay grey skies ferry pier noon crane'.split(' ');

/** Deterministic pseudo-random prose: sentences tagged with their section so mixing is visible. */
function makeDocument(sections: number, paragraphsPerSection: number, seed = 1): { doc: ParsedDocument; sentences: Map<string, number> } {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const sentences = new Map<string, number>();
  const blocks: Block[] = [];
  let serial = 0;
  for (let section = 0; section < sections; section++) {
    const page = section + 1;
    blocks.push({ kind: 'heading', level: section % 3 === 0 ? 1 : 2, text: `Section ${section}`, page });
    for (let p = 0; p < paragraphsPerSection; p++) {
      const count = 1 + Math.floor(random() * 12);
      const paragraph: string[] = [];
      for (let s = 0; s < count; s++) {
        const words = Array.from({ length: 4 + Math.floor(random() * 25) }, () => WORDS[Math.floor(random() * WORDS.length)]);
        const sentence = `S${section}x${serial++} ${words.join(' ')}.`;
        sentences.set(sentence, section);
        paragraph.push(sentence);
      }
      blocks.push({ kind: 'paragraph', text: paragraph.join(' '), page });
    }
  }
  return { doc: { format: 'text', blocks }, sentences };
}

const exact = (text: string) => countTokens(text, { disallowedSpecial: new Set() });

function expectWithinBudget(chunks: ChunkDraft[], maxTokens: number): void {
  for (const chunk of chunks) {
    expect(chunk.tokenCount).toBeLessThanOrEqual(maxTokens);
    // tokenCount sums per-piece counts; it may overstate (".\n\n" is one token) but never understate.
    expect(exact(chunk.text)).toBeLessThanOrEqual(chunk.tokenCount);
  }
}

describe('chunkDocument', () => {
  it('keeps every chunk within budget, loses no sentence, never mixes sections, and numbers positions in order', () => {
    const { doc, sentences } = makeDocument(12, 6);
    const chunks = chunkDocument(doc, { maxTokens: 96, overlapTokens: 16 });
    expectWithinBudget(chunks, 96);
    expect(chunks.map((chunk) => chunk.position)).toEqual(chunks.map((_, i) => i));
    for (const [sentence] of sentences) expect(chunks.some((chunk) => chunk.text.includes(sentence))).toBe(true);
    for (const chunk of chunks) {
      const sections = new Set([...chunk.text.matchAll(/S(\d+)x\d+/g)].map((match) => Number(match[1])));
      expect(sections.size).toBe(1);
      const [section] = sections;
      expect(chunk.headingPath.at(-1)).toBe(`Section ${section}`);
      expect(chunk.page).toBe(section + 1);
    }
  });

  it('builds the heading path from heading levels', () => {
    const doc: ParsedDocument = {
      format: 'markdown',
      blocks: [
        { kind: 'heading', level: 1, text: 'Guide' },
        { kind: 'paragraph', text: 'Intro.' },
        { kind: 'heading', level: 2, text: 'Install' },
        { kind: 'paragraph', text: 'Run the installer.' },
        { kind: 'heading', level: 3, text: 'Linux' },
        { kind: 'paragraph', text: 'Use the package.' },
        { kind: 'heading', level: 2, text: 'Usage' },
        { kind: 'paragraph', text: 'Start it.' },
      ],
    };
    const chunks = chunkDocument(doc);
    expect(chunks.map((chunk) => [chunk.text, chunk.headingPath])).toEqual([
      ['Guide\n\nIntro.', ['Guide']],
      ['Install\n\nRun the installer.', ['Guide', 'Install']],
      ['Linux\n\nUse the package.', ['Guide', 'Install', 'Linux']],
      ['Usage\n\nStart it.', ['Guide', 'Usage']],
    ]);
  });

  it('carries consecutive headings into the chunk of the content below them, and keeps a lone heading', () => {
    const doc: ParsedDocument = {
      format: 'markdown',
      blocks: [
        { kind: 'heading', level: 1, text: 'Manual' },
        { kind: 'heading', level: 2, text: 'Safety' },
        { kind: 'paragraph', text: 'Wear gloves.' },
        { kind: 'heading', level: 2, text: 'Appendix' },
      ],
    };
    expect(chunkDocument(doc).map((chunk) => [chunk.text, chunk.headingPath])).toEqual([
      ['Manual\n\nSafety\n\nWear gloves.', ['Manual', 'Safety']],
      ['Appendix', ['Manual', 'Appendix']],
    ]);
  });

  it('splits a long paragraph at sentence boundaries and overlaps whole sentences within a section', () => {
    const sentence = (i: number) => `Sentence number ${i} tells the reader about harbor operations at dawn.`;
    const text = Array.from({ length: 40 }, (_, i) => sentence(i)).join(' ');
    const chunks = chunkDocument({ format: 'text', blocks: [{ kind: 'paragraph', text }] }, { maxTokens: 64, overlapTokens: 16 });
    expect(chunks.length).toBeGreaterThan(5);
    expectWithinBudget(chunks, 64);
    for (const chunk of chunks) expect(chunk.text).toMatch(/^Sentence number \d+ .*dawn\.$/s);
    for (let i = 1; i < chunks.length; i++) {
      const firstSentence = chunks[i].text.split('. ')[0] + '.';
      // The opening sentence repeats the previous chunk's last one.
      expect(chunks[i - 1].text.endsWith(firstSentence)).toBe(true);
      expect(exact(firstSentence)).toBeLessThanOrEqual(16);
    }
  });

  it('does not overlap across a heading or repeat records', () => {
    const rows: Block[] = Array.from({ length: 30 }, (_, i) => ({ kind: 'record', text: `id: ${i}; name: item ${i}; price: ${i * 3}` }));
    const doc: ParsedDocument = { format: 'csv', blocks: [{ kind: 'heading', level: 1, text: 'Prices' }, ...rows] };
    const chunks = chunkDocument(doc, { maxTokens: 48, overlapTokens: 16 });
    const all = chunks.map((chunk) => chunk.text).join('\n\n');
    for (let i = 0; i < 30; i++) expect(all.split(`id: ${i};`).length - 1).toBe(1);
  });

  it('splits an over-long sentence at word boundaries', () => {
    const words = Array.from({ length: 2_000 }, (_, i) => WORDS[i % WORDS.length]);
    const chunks = chunkDocument({ format: 'text', blocks: [{ kind: 'paragraph', text: words.join(' ') }] }, { maxTokens: 50, overlapTokens: 0 });
    expectWithinBudget(chunks, 50);
    expect(chunks.map((chunk) => chunk.text).join(' ')).toBe(words.join(' '));
    for (const chunk of chunks) for (const word of chunk.text.split(' ')) expect(WORDS).toContain(word);
  });

  it('splits a run without spaces at character boundaries, keeping surrogate pairs whole', () => {
    const run = 'QmFzZTY0IGRhdGE'.repeat(500) + '😀'.repeat(300);
    const chunks = chunkDocument({ format: 'text', blocks: [{ kind: 'paragraph', text: run }] }, { maxTokens: 40, overlapTokens: 8 });
    expectWithinBudget(chunks, 40);
    expect(chunks.map((chunk) => chunk.text).join('')).toBe(run);
    // A lone surrogate would mean an emoji was cut in half.
    for (const chunk of chunks) expect(chunk.text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });

  it('chunks a 2 MB single line quickly, within memory, losing nothing', () => {
    const line = Array.from({ length: 330_000 }, (_, i) => WORDS[(i * 7) % WORDS.length])
      .join(' ')
      .slice(0, 2_000_000)
      .trim();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    const chunks = chunkDocument({ format: 'text', blocks: [{ kind: 'paragraph', text: line }] }, { overlapTokens: 0 });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(400 * 1024 * 1024);
    expect(chunks.every((chunk) => chunk.tokenCount <= 256)).toBe(true);
    expect(chunks.map((chunk) => chunk.text).join(' ')).toBe(line);
  });

  it('is deterministic', () => {
    const { doc } = makeDocument(5, 5, 42);
    expect(chunkDocument(doc, { maxTokens: 80 })).toEqual(chunkDocument(doc, { maxTokens: 80 }));
  });

  it('handles text that looks like special tokens', () => {
    const chunks = chunkDocument({ format: 'text', blocks: [{ kind: 'paragraph', text: 'Model output ended with <|endoftext|> here.' }] });
    expect(chunks).toHaveLength(1);
  });

  it('chunks a 1,000-page document fast', () => {
    const { doc } = makeDocument(1_000, 5, 7);
    const started = performance.now();
    const chunks = chunkDocument(doc);
    const perSecond = chunks.length / ((performance.now() - started) / 1000);
    expect(chunks.length).toBeGreaterThan(1_000);
    // The target is 5,000/s on a quiet 2-core machine; the bound leaves room for a busy CI run.
    expect(perSecond).toBeGreaterThan(1_500);
  });

  it('rejects a budget too small to be useful', () => {
    expect(() => chunkDocument({ format: 'text', blocks: [] }, { maxTokens: 4 })).toThrow(RangeError);
    expect(() => chunkDocument({ format: 'text', blocks: [] }, { overlapTokens: -1 })).toThrow(RangeError);
  });
});
