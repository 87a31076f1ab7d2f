// The docs point at code by line (`src/server.ts#L142`, or
// `**src/server.ts:142**` where a reader sets a breakpoint). Code moves; this
// keeps the pointers true: every such link must reach an existing line, and
// where the text quotes what is there, in a `code span` right before or
// right after the link, that line or the three after it must hold it.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers/chat.js';

/** `[text](../src/server.ts#L142)`, relative to the doc, or
 * `**src/server.ts:142**`, relative to the project. */
const LINK = /\[[^\]]*\]\(([^)#\s]+)#L(\d+)\)|\*\*((?:src|scripts|test)\/[\w/.-]+):(\d+)\*\*/g;
/** Words in code spans that name nothing in particular. */
const NOT_NAMES = new Set([
  'const',
  'let',
  'for',
  'of',
  'if',
  'else',
  'while',
  'new',
  'return',
  'await',
  'this',
  'self',
  'true',
  'false',
  'null',
  'undefined',
  'def',
  'in',
  'try',
  'except',
  'and',
  'not',
  'is',
]);

interface DocLink {
  doc: string;
  line: number;
  target: string;
  targetLine: number;
  /** The code spans right before and after the link. */
  spans: string[];
}

function linksIn(doc: string): DocLink[] {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  return [...text.matchAll(LINK)].map((match) => {
    const start = match.index!;
    const end = start + match[0].length;
    // A code span right before the link, or right after it, with at most
    // punctuation between: "`connect` ([#L63](...))", "[#L80](...) `clients`".
    const before = /`([^`]+)`[\s(,:;–—-]{0,4}$/.exec(text.slice(Math.max(0, start - 200), start))?.[1];
    const after = /^[\s),:;–—-]{0,4}`([^`]+)`/.exec(text.slice(end, end + 200))?.[1];
    const spans = [before, after].filter((code): code is string => code !== undefined && namesIn(code).length > 0);
    return {
      doc,
      line: text.slice(0, start).split('\n').length,
      target: match[1] !== undefined ? relative(ROOT, join(ROOT, dirname(doc), match[1])) : match[3]!,
      targetLine: Number(match[2] ?? match[4]),
      spans,
    };
  });
}

/** The names in a code span: words of three letters or more, keywords aside. */
function namesIn(code: string): string[] {
  return (code.match(/[A-Za-z_]\w{2,}/g) ?? []).filter((word) => !NOT_NAMES.has(word));
}

/** A span is there if the code it quotes is (up to a `...` or the first
 * parenthesis), or else if every name in it is. */
function spanIsIn(span: string, text: string): boolean {
  const quoted = span.split('...')[0]!.split('(')[0]!.trim();
  if (quoted.length >= 3 && text.includes(quoted)) return true;
  return namesIn(span).every((name) => text.includes(name));
}

const docs = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];
const links = docs.flatMap(linksIn);

test('the docs link to code by line, and most links say what they point at', () => {
  assert.ok(links.length > 50, `found ${links.length} line links`);
  const named = links.filter((link) => link.spans.length > 0).length;
  assert.ok(named > links.length / 2, `${named} of ${links.length} links name what they point at`);
});

test('every line link reaches a line that still holds what the text names', () => {
  const broken: string[] = [];
  for (const link of links) {
    const where = `${link.doc}:${link.line} -> ${link.target}#L${link.targetLine}`;
    if (!existsSync(join(ROOT, link.target))) {
      broken.push(`${where}: no such file`);
      continue;
    }
    const lines = readFileSync(join(ROOT, link.target), 'utf8').split('\n');
    if (link.targetLine < 1 || link.targetLine > lines.length) {
      broken.push(`${where}: the file has ${lines.length} lines`);
      continue;
    }
    if (link.spans.length === 0) continue;
    const near = lines.slice(link.targetLine - 1, link.targetLine + 3).join('\n');
    if (!link.spans.some((span) => spanIsIn(span, near))) {
      broken.push(`${where}: neither of ${link.spans.map((span) => `\`${span}\``).join(', ')} is there; it reads: ${lines[link.targetLine - 1]!.trim()}`);
    }
  }
  assert.deepEqual(broken, []);
});
