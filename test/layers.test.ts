import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, test } from 'node:test';
import { readRepositoryFile } from './helpers/repository.js';

// The layers are layers in the import graph, not only in prose: the core
// (src/recipe/select.ts) and the first step import nothing but Node and the
// wire format; what the room's reactor plugs into the core imports nothing
// of the loop view; and no file of src/ imports, however indirectly, itself.

/** Every .ts file of src/, as a path from the repository's root with /. */
function sourceFiles(folder = 'src'): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** What a file imports (types too), as repository paths; Node's modules as `node:...`. */
function importsOf(file: string): string[] {
  const source = readRepositoryFile(file);
  return [...source.matchAll(/^(?:import|export)\b[^;]*?\bfrom '([^']+)';/gms)].map(([, specifier]) =>
    specifier!.startsWith('.') ? normalize(join(dirname(file), specifier!.replace(/\.js$/, '.ts'))).replaceAll('\\', '/') : specifier!,
  );
}

const GRAPH = new Map(sourceFiles().map((file) => [file, importsOf(file)]));

/** Every file `file` reaches through its imports, itself excluded unless in a circle. */
function reachable(file: string): Set<string> {
  const seen = new Set<string>();
  const next = [...(GRAPH.get(file) ?? [])];
  while (next.length > 0) {
    const each = next.pop()!;
    if (seen.has(each)) continue;
    seen.add(each);
    next.push(...(GRAPH.get(each) ?? []));
  }
  return seen;
}

describe('the layers, in the import graph of src/', () => {
  test('the graph is read: every import of src/ names a file that exists, or a module of Node', () => {
    assert.ok(GRAPH.size > 20, `${GRAPH.size} files`);
    assert.ok(GRAPH.get('src/room/reactor.ts')!.includes('src/recipe/select.ts'));
    for (const [file, imports] of GRAPH) {
      for (const target of imports) assert.ok(target.startsWith('node:') || GRAPH.has(target), `${file} imports ${target}`);
    }
  });

  test('no file imports itself, however indirectly', () => {
    const circles = [...GRAPH.keys()].filter((file) => reachable(file).has(file));
    assert.deepEqual(circles, []);
  });

  test('the core and the first step import nothing but Node and the wire format', () => {
    for (const file of ['src/recipe/select.ts', 'src/recipe/server.ts', 'src/recipe/client.ts']) {
      const outside = [...reachable(file)].filter(
        (target) => !target.startsWith('node:') && !target.startsWith('src/recipe/') && !target.startsWith('src/wire/'),
      );
      assert.deepEqual(outside, [], file);
    }
  });

  test("the room's reactor and its layers know the loop view only by the interfaces they are handed", () => {
    for (const file of ['reactor', 'sources', 'watcher', 'policy', 'flow', 'outbox', 'gather', 'alarm'].map((name) => `src/room/${name}.ts`)) {
      const view = [...reachable(file)].filter((target) => target.startsWith('src/view/'));
      assert.deepEqual(view, [], file);
    }
  });

  test('the loops say nothing of the trace: what a round did is told by the sources, and no line of the server or the client records it', () => {
    // What --trace, --record and the loop view show comes from src/room/watcher.ts's watcher, told by the
    // reactor, the sources and the policy; the recipe's lines stay free of it.
    const told = /\b(trace|recorder|watcher)\??\.(did|took|wrote|closed|noted|done|selecting|selected)\(/;
    for (const file of ['src/room/server.ts', 'src/room/client.ts']) {
      const lines = readRepositoryFile(file).split('\n');
      assert.deepEqual(
        lines.flatMap((line, at) => (told.test(line) ? [`${file}:${at + 1}: ${line.trim()}`] : [])),
        [],
      );
    }
    assert.ok(told.test('this.trace?.did(`alice: a line`);'), 'the pattern finds such a call');
  });

  test('a circle would be found', () => {
    // The check above is only as good as the search: two files that import each other are a circle.
    GRAPH.set('test/a.ts', ['test/b.ts']);
    GRAPH.set('test/b.ts', ['test/a.ts']);
    try {
      assert.ok(reachable('test/a.ts').has('test/a.ts'));
    } finally {
      GRAPH.delete('test/a.ts');
      GRAPH.delete('test/b.ts');
    }
  });
});
