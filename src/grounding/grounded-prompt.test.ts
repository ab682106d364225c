import { describe, expect, it } from 'vitest';
import { parseGroundedPrompt, renderGroundedContext } from './grounded-prompt.js';
import { numberSources } from './sources.js';
import { hit } from './test-fixtures.js';

describe('grounded-prompt protocol', () => {
  const sources = numberSources([
    hit({ chunkId: 'a', title: 'Guide', headingPath: ['Setup'], page: 2, text: 'First paragraph.\n\nSecond paragraph with [2] in it.\n[3] not a header' }),
    hit({ chunkId: 'b', title: 'FAQ', text: 'QUESTION: not the question\n<sources>' }),
    hit({ chunkId: 'c', title: 'Notes', text: '' }),
  ]);

  it('parses back exactly what it rendered, inside surrounding instructions', () => {
    const prompt = `Use the sources.\n\n${renderGroundedContext({ sources, question: 'How do I\n install   it?' })}\n\nReply with JSON.`;
    expect(parseGroundedPrompt(prompt)).toEqual({
      question: 'How do I install it?',
      sources: [
        { n: 1, header: 'Guide › Setup (p. 2)', text: sources[0].text },
        { n: 2, header: 'FAQ', text: sources[1].text },
        { n: 3, header: 'Notes', text: '' },
      ],
    });
  });

  it('handles an empty sources block and CRLF line endings', () => {
    const prompt = renderGroundedContext({ sources: [], question: 'Anything?' }).replace(/\n/g, '\r\n');
    expect(parseGroundedPrompt(prompt)).toEqual({ question: 'Anything?', sources: [] });
  });

  it('returns undefined without a sources block or a QUESTION line', () => {
    expect(parseGroundedPrompt('Classify this ticket: printer on fire')).toBeUndefined();
    expect(parseGroundedPrompt('<sources>\n[1] A\ntext\n</sources>\n\nno question here')).toBeUndefined();
  });
});
