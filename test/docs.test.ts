// The docs point at code by line, and every pointer says what it points at,
// so that this test can tell when the code has moved away from it:
//
//   [`this.serve(sock, inputs)`](../src/room/server.ts#L194)
//       a link whose text is the code on that line (the path is relative
//       to the doc, as on GitHub);
//   **src/room/server.ts:194** — `this.serve(sock as ChatConnection, inputs);`
//       where a reader sets a breakpoint: the path from the project's
//       root, then a dash and the code on that line.
//
// The code is quoted as it stands on the line; `...` leaves out a part
// (`socket.on('data', ...)`), and what remains must be there in that order.
// A pointer in any other form (a link to a line whose text is not code, a
// bare `src/room/server.ts:194`) is an error too: it could not be checked.
// Program output quoted in a code span or block is not a pointer.

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers/chat.js';
import { readRepositoryFile } from './helpers/repository.js';

/** A link to a line: `[text](path#L12)`. */
const LINE_LINK = /\[([^\]]*)\]\(([^)#\s]+)#L(\d+)\)/g;
/** A breakpoint: `**src/x.ts:12**`, and what follows it on the line. */
const BREAKPOINT = /\*\*((?:src|scripts|test)\/[\w/.-]+):(\d+)\*\*([^\n]*)/g;
/** Anything else that looks like a pointer to a line of code. */
const ANY_POINTER = /(?:(?:src|scripts|test)\/[\w/.-]+\.(?:ts|html|py)|\]\([^)\s]*)(?::\d+\b|#L\d+)/g;

export interface Pointer {
  /** Where the pointer is: the doc and its line. */
  doc: string;
  line: number;
  /** What it points at: a file from the project's root, and a line (from 1). */
  target: string;
  targetLine: number;
  /** The code it says is there, or null when it does not say, which is an error. */
  code: string | null;
}

/** Every pointer in a doc, and every piece of text that looks like one but
 * is in neither form. */
export function pointersIn(doc: string): { pointers: Pointer[]; unreadable: string[] } {
  const text = readRepositoryFile(doc);
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  const pointers: Pointer[] = [];
  const understood = new Set<number>();
  for (const match of text.matchAll(LINE_LINK)) {
    const code = codeSpan(match[1]!);
    pointers.push({ doc, line: lineOf(match.index!), target: relative(ROOT, join(ROOT, dirname(doc), match[2]!)), targetLine: Number(match[3]), code });
    understood.add(match.index! + match[0].indexOf(']('));
  }
  for (const match of text.matchAll(BREAKPOINT)) {
    const code = codeSpan(/^ — (`+)(.+?)\1/.exec(match[3]!)?.[0].slice(3) ?? '');
    pointers.push({ doc, line: lineOf(match.index!), target: match[1]!, targetLine: Number(match[2]), code });
    understood.add(match.index! + 2);
  }
  // Program output quoted in code (`Break on start in src/view/hold.ts:1`) is
  // not a pointer; a code span that holds nothing but one is.
  const prose = text.replace(/```[\s\S]*?```|`[^`\n]+`/g, (code) => (/^`[^`\s]+`$/.test(code) ? code : ' '.repeat(code.length)));
  const unreadable = [...prose.matchAll(ANY_POINTER)]
    .filter((match) => !understood.has(match.index!))
    .map(
      (match) =>
        `${doc}:${lineOf(match.index!)}: "${match[0]}" points at a line without saying what is there; write [\`the code\`](path#Lnn) or **path:nn** — \`the code\``,
    );
  return { pointers, unreadable };
}

/** The code in a code span that is the whole text (`code`, or ``code``
 * when the code holds a backquote), or null. */
function codeSpan(text: string): string | null {
  return /^(`+)(.+?)\1$/.exec(text)?.[2]?.trim() ?? null;
}

/** Whether the quoted code is on the line: each part between `...`, in order. */
export function quotedIn(code: string, line: string): boolean {
  let from = 0;
  for (const part of code.split('...').map((piece) => piece.trim())) {
    if (part === '') continue;
    const at = line.indexOf(part, from);
    if (at < 0) return false;
    from = at + part.length;
  }
  return true;
}

/** What is wrong with a pointer, said so that fixing it is quick, or null. */
export function problemWith(pointer: Pointer): string | null {
  const where = `${pointer.doc}:${pointer.line}: ${pointer.target}#L${pointer.targetLine}`;
  if (pointer.code === null) return `${where} does not say what it points at; its text must be the code on that line, in backquotes`;
  if (!existsSync(join(ROOT, pointer.target))) return `${where}: there is no ${pointer.target}`;
  const lines = readRepositoryFile(pointer.target).split('\n');
  const line = lines[pointer.targetLine - 1];
  if (line !== undefined && quotedIn(pointer.code, line)) return null;
  const reads = line === undefined ? `the file has ${lines.length} lines` : `line ${pointer.targetLine} reads: ${line.trim()}`;
  const found = lines.flatMap((text, i) => (quotedIn(pointer.code!, text) ? [i + 1] : []));
  const now =
    found.length === 0 ? `it is nowhere in ${pointer.target} now` : `it is on line ${found.join(', line ')} now (${found.map((n) => `#L${n}`).join(' or ')})`;
  return `${where} should hold \`${pointer.code}\`, but ${reads}; ${now}`;
}

const docs = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];
const found = docs.map(pointersIn);
const pointers = found.flatMap((doc) => doc.pointers);

test('the docs point at code by line', () => {
  assert.ok(pointers.length > 50, `found ${pointers.length} pointers`);
});

test('every pointer to a line of code is in a form this test can check', () => {
  assert.deepEqual(
    found.flatMap((doc) => doc.unreadable),
    [],
  );
});

test('every pointer reaches a line that holds the code it quotes', () => {
  assert.deepEqual(
    pointers.map(problemWith).filter((problem) => problem !== null),
    [],
  );
});

test('a pointer whose line no longer holds its code fails, and says where the code is now', () => {
  const moved: Pointer = { doc: 'docs/X.md', line: 3, target: 'src/room/server.ts', targetLine: 1, code: 'async run(): Promise<void> {' };
  const runLine =
    readRepositoryFile('src/room/server.ts')
      .split('\n')
      .findIndex((line) => line.includes('async run(): Promise<void> {')) + 1;
  assert.match(
    problemWith(moved)!,
    new RegExp(
      `^docs/X\\.md:3: src/room/server\\.ts#L1 should hold \`async run\\(\\): Promise<void> \\{\`, but line 1 reads: .*; it is on line ${runLine} now \\(#L${runLine}\\)$`,
    ),
  );
  assert.match(problemWith({ ...moved, code: 'no such code' })!, /it is nowhere in src\/room\/server\.ts now$/);
  assert.match(problemWith({ ...moved, code: null })!, /does not say what it points at/);
  assert.equal(problemWith({ ...moved, targetLine: runLine }), null);
  assert.ok(quotedIn("socket.on('data', ...)", "      socket.on('data', (chunk) => {"));
  assert.ok(!quotedIn("socket.on('data', ...)", "      socket.on('end', () => {"));
});
