import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * `groundwork --help` (and every flag error) must not load the app: the store, fastify, the
 * model SDKs and the parsers took it to 0.8 s on a quiet machine. Commands import what they use
 * inside their actions; this walks the static imports from main.ts (type-only imports and
 * `import()` left out: neither loads anything at start) and lists what they reach.
 */

const src = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function staticClosure(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    for (const statement of source.statements) {
      let specifier: string | undefined;
      if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly) {
        // `import { type A, type B } from` loads nothing either (verbatimModuleSyntax aside).
        const named = statement.importClause?.namedBindings;
        const allTypes =
          statement.importClause &&
          !statement.importClause.name &&
          named &&
          ts.isNamedImports(named) &&
          named.elements.length > 0 &&
          named.elements.every((e) => e.isTypeOnly);
        if (!allTypes) specifier = (statement.moduleSpecifier as ts.StringLiteral).text;
      } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier && !statement.isTypeOnly) {
        specifier = (statement.moduleSpecifier as ts.StringLiteral).text;
      }
      if (specifier === undefined || specifier.startsWith('node:')) continue;
      if (!specifier.startsWith('.')) {
        packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
        continue;
      }
      const target = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
      if (!existsSync(target)) throw new Error(`${relative(src, file)} imports ${specifier}, which does not exist`);
      visit(target);
    }
  };
  visit(entry);
  return { files: [...files].map((f) => relative(src, f).split('\\').join('/')).sort(), packages: [...packages].sort() };
}

describe('groundwork --help', () => {
  it('loads commander and the CLI’s own small modules, nothing a command does not use', () => {
    const { files, packages } = staticClosure(join(src, 'cli', 'main.ts'));
    expect(packages).toEqual(['commander']);
    // None of the layers that open stores, build servers or parse configs.
    expect(
      files.filter(
        (f) =>
          /^(app|api|models|tasks|gateway|jobs|retrieval|ingest\/(?!source-path)|embeddings|grounding|testing)\//.test(f) ||
          f === 'config/config.ts' ||
          f === 'store/index.ts',
      ),
    ).toEqual([]);
  });
});
