// scripts/coverage.ts reads Node's lcov report for the files of src/,
// whatever separator the system writes in their names.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readLcov } from '../scripts/coverage.js';

const record = (file: string, linesHit: number) => `TN:\nSF:${file}\nFNF:1\nFNH:1\nBRF:4\nBRH:3\nLF:10\nLH:${linesHit}\nend_of_record\n`;

test('the files of src/ are kept, written with / or \\ (as on Windows); tests and scripts are left out', () => {
  const lcov = [record('src/room/server.ts', 9), record('src\\room\\reactor.ts', 8), record('test\\server.test.ts', 10), record('scripts/server.ts', 7)].join(
    '',
  );
  assert.deepEqual(readLcov(lcov), [
    { file: 'src/room/server.ts', lines: 10, linesHit: 9, branches: 4, branchesHit: 3 },
    { file: 'src/room/reactor.ts', lines: 10, linesHit: 8, branches: 4, branchesHit: 3 },
  ]);
});
