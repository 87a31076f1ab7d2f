// The test files and the Node options they run with: one list for
// `npm test` (scripts/test.ts) and for whatever else runs the suite.
//
// The files are listed here, not by a glob in package.json: npm runs
// scripts with cmd.exe on Windows, which passes `test/*.test.ts` on as it
// is, and Node expands a --test glob itself only from Node 21 on.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const TEST_DIRECTORY = 'test';

/** Every file test/*.test.ts, in order of name (paths from the project's root). */
export function testFiles(): string[] {
  return readdirSync(TEST_DIRECTORY)
    .filter((name) => name.endsWith('.test.ts'))
    .sort()
    .map((name) => join(TEST_DIRECTORY, name));
}

/** Node's options for the tests: TypeScript through tsx, stack traces in
 * the sources, Node 20's WebSocket (the loop view's browser test), and a
 * minute for each test. */
export const TEST_NODE_OPTIONS = ['--enable-source-maps', '--import', 'tsx', '--experimental-websocket', '--test', '--test-timeout=60000'];
