import { decodeHTML } from 'entities';
import { Lexer, type Token, type Tokens } from 'marked';
import type { Block } from '../types.js';
import { htmlBlocks } from './html.js';
import { renderRecord, tidy, type ParsedContent } from './records.js';

/** YAML front matter is metadata for site generators, not prose. */
const FRONT_MATTER = /^---[ \t]*\r?\n[\s\S]*?\r?\n---[ \t]*(?:\r?\n|$)/;

/**
 * Markdown via marked's lexer (CommonMark + GFM tables): headings keep their level, list
 * items and code blocks become paragraphs, table rows become records. Inline formatting is
 * reduced to its text.
 */
export function parseMarkdown(markdown: string): ParsedContent {
  const tokens = new Lexer({ gfm: true }).lex(markdown.replace(FRONT_MATTER, ''));
  const blocks: Block[] = [];
  collect(tokens, blocks);
  return { blocks };
}

function collect(tokens: Token[], blocks: Block[]): void {
  for (const token of tokens) {
    switch (token.type) {
      case 'heading': {
        const text = tidy(inlineText((token as Tokens.Heading).tokens));
        if (text) blocks.push({ kind: 'heading', level: (token as Tokens.Heading).depth, text });
        break;
      }
      case 'paragraph':
      case 'text': {
        const inner = (token as Tokens.Paragraph | Tokens.Text).tokens;
        paragraph(inner ? inlineText(inner) : (token as Tokens.Text).text, blocks);
        break;
      }
      case 'code':
        if ((token as Tokens.Code).text.trim()) blocks.push({ kind: 'paragraph', text: (token as Tokens.Code).text });
        break;
      case 'list':
        for (const item of (token as Tokens.List).items) listItem(item, blocks);
        break;
      case 'blockquote':
        collect((token as Tokens.Blockquote).tokens, blocks);
        break;
      case 'table':
        table(token as Tokens.Table, blocks);
        break;
      case 'html':
        blocks.push(...htmlBlocks((token as Tokens.HTML).text));
        break;
      default:
        // space, hr, def (link reference definitions): nothing to read.
        break;
    }
  }
}

/** An item's own text is one paragraph; its nested lists follow as their own items. */
function listItem(item: Tokens.ListItem, blocks: Block[]): void {
  const own: string[] = [];
  const rest: Token[] = [];
  for (const token of item.tokens) {
    if (token.type === 'text' || token.type === 'paragraph') {
      const inner = (token as Tokens.Text).tokens;
      own.push(inner ? inlineText(inner) : (token as Tokens.Text).text);
    } else {
      rest.push(token);
    }
  }
  paragraph(own.join('\n'), blocks);
  collect(rest, blocks);
}

function table(token: Tokens.Table, blocks: Block[]): void {
  const columns = token.header.map((cell) => tidy(inlineText(cell.tokens)));
  for (const row of token.rows) {
    const text = renderRecord(
      columns,
      row.map((cell) => tidy(inlineText(cell.tokens))),
    );
    if (text) blocks.push({ kind: 'record', text });
  }
}

function paragraph(text: string, blocks: Block[]): void {
  const tidied = tidy(text);
  if (tidied) blocks.push({ kind: 'paragraph', text: tidied });
}

/** The readable text of inline tokens: emphasis and links keep their words, tags go. */
function inlineText(tokens: Token[]): string {
  let out = '';
  for (const token of tokens) {
    switch (token.type) {
      case 'br':
        out += '\n';
        break;
      case 'html':
        break;
      case 'image':
        out += (token as Tokens.Image).text;
        break;
      case 'codespan':
      case 'escape':
        out += (token as Tokens.Codespan).text;
        break;
      default: {
        const inner = (token as { tokens?: Token[] }).tokens;
        // Entity references (&amp;, &gt;) are text in Markdown, except inside code spans.
        out += inner ? inlineText(inner) : decodeHTML((token as { text?: string }).text ?? '');
      }
    }
  }
  return out;
}
