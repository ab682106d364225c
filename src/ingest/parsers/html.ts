import { isTag as isElement, isText, type AnyNode, type Element } from 'domhandler';
import { findAll, findOne, removeSubsets, textContent } from 'domutils';
import { parseDocument } from 'htmlparser2';
import type { Block } from '../types.js';
import { renderRecord, tidy, type ParsedContent } from './records.js';

/** Never content: page chrome, code, widgets. */
const SKIPPED = new Set([
  'script',
  'style',
  'noscript',
  'template',
  'nav',
  'aside',
  'form',
  'footer',
  'iframe',
  'svg',
  'canvas',
  'button',
  'select',
  'textarea',
  'object',
  'embed',
  'dialog',
  'head',
  'img',
  'video',
  'audio',
]);
const SKIPPED_ROLES = new Set(['navigation', 'banner', 'contentinfo', 'complementary', 'search', 'menu', 'menubar']);
/** Elements that end the running paragraph; anything else is inline. */
const BLOCK_ELEMENTS = new Set([
  'address',
  'article',
  'blockquote',
  'body',
  'caption',
  'center',
  'dd',
  'details',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'header',
  'hgroup',
  'hr',
  'html',
  'legend',
  'li',
  'main',
  'ol',
  'p',
  'section',
  'summary',
  'ul',
]);
/** Inside these a <header> is the content's own heading area, not the site banner. */
const CONTENT_ELEMENTS = new Set(['article', 'main', 'section']);
const HEADING = /^h([1-6])$/;

/**
 * A web page → its main content. <main> (or role=main) wins, then <article>s, then <body>;
 * navigation, banners, sidebars, footers, forms and scripts are dropped wherever they sit.
 */
export function parseHtml(html: string): ParsedContent {
  const document = parseDocument(html);
  const titleElement = findOne((el) => el.name === 'title', document.children);
  const title = titleElement ? tidy(collapse(textContent(titleElement))) : '';
  const main = findOne((el) => el.name === 'main' || el.attribs.role === 'main', document.children);
  const articles = main ? [] : removeSubsets(findAll((el) => el.name === 'article', document.children));
  const body = findOne((el) => el.name === 'body', document.children);
  const roots: AnyNode[] = main ? [main] : articles.length > 0 ? articles : body ? [body] : document.children;
  return { title: title || undefined, blocks: htmlBlocks(roots) };
}

/** Blocks of an HTML fragment or subtree (also used for DOCX via mammoth and Markdown's raw HTML). */
export function htmlBlocks(roots: AnyNode[] | string): Block[] {
  const nodes = typeof roots === 'string' ? parseDocument(roots).children : roots;
  const walker = new BlockWalker();
  for (const node of nodes) walker.visit(node, false);
  walker.flush();
  return walker.blocks;
}

class BlockWalker {
  readonly blocks: Block[] = [];
  private inline: string[] = [];

  visit(node: AnyNode, inContent: boolean): void {
    if (isText(node)) {
      this.inline.push(collapse(node.data));
      return;
    }
    if (!isElement(node) || this.skipped(node, inContent)) return;
    const name = node.name;
    const heading = HEADING.exec(name);
    if (heading) {
      this.flush();
      const text = tidy(collapse(textContent(node)));
      if (text) this.blocks.push({ kind: 'heading', level: Number(heading[1]), text });
      return;
    }
    if (name === 'br') {
      this.inline.push('\n');
      return;
    }
    if (name === 'pre') {
      // Code keeps its line structure; only surrounding blank lines go.
      this.flush();
      const text = textContent(node).replace(/^\n+|\s+$/g, '');
      if (text.trim()) this.blocks.push({ kind: 'paragraph', text });
      return;
    }
    if (name === 'table') {
      this.flush();
      this.table(node, inContent);
      return;
    }
    const block = BLOCK_ELEMENTS.has(name);
    if (block) this.flush();
    const childInContent = inContent || CONTENT_ELEMENTS.has(name);
    for (const child of node.children) this.visit(child, childInContent);
    if (block) this.flush();
  }

  flush(): void {
    const text = tidy(this.inline.join(''));
    this.inline = [];
    if (text) this.blocks.push({ kind: 'paragraph', text });
  }

  private skipped(element: Element, inContent: boolean): boolean {
    if (SKIPPED.has(element.name)) return true;
    if (element.name === 'header' && !inContent) return true;
    const { hidden, role } = element.attribs;
    return hidden !== undefined || element.attribs['aria-hidden'] === 'true' || (role !== undefined && SKIPPED_ROLES.has(role));
  }

  /** Each row becomes a record named by the header row's cells, like a CSV row. */
  private table(table: Element, inContent: boolean): void {
    const caption = table.children.find((child) => isElement(child) && child.name === 'caption');
    if (caption) this.visit(caption, inContent);
    // Nested tables are flattened into their cell's text; only this table's rows count.
    const rows = findAll((el) => el.name === 'tr', table.children).filter((row) => closestTable(row) === table);
    let columns: string[] = [];
    rows.forEach((row, index) => {
      const cells = row.children.filter((cell): cell is Element => isElement(cell) && (cell.name === 'td' || cell.name === 'th'));
      const values = cells.map((cell) => tidy(collapse(textContent(cell))));
      if (index === 0 && cells.length > 0 && cells.every((cell) => cell.name === 'th')) {
        columns = values;
        return;
      }
      const text = columns.length > 0 ? renderRecord(columns, values) : values.filter(Boolean).join(' | ');
      if (text) this.blocks.push({ kind: 'record', text });
    });
  }
}

function closestTable(node: AnyNode): AnyNode | null {
  let current = node.parent;
  while (current && !(isElement(current) && current.name === 'table')) current = current.parent;
  return current;
}

/** HTML whitespace rules: any run of spaces, tabs and newlines is one space. */
function collapse(text: string): string {
  return text.replace(/[ \t\n\r\f]+/g, ' ');
}
