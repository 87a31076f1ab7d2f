// `npm run coverage`: the test suite under Node's own coverage, and the
// line and branch coverage of src/ it gives. With --min-lines and
// --min-branches (percentages), it fails when the coverage falls below
// them; CI runs it so.
//
// Node 20's runner has no coverage thresholds and its table mixes the
// tests in, so the counts are read from its lcov report instead. Code run
// in child processes (the command lines) is not counted: only what the
// tests run in their own process.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseCommandLine } from './options.js';

interface FileCoverage {
  file: string;
  lines: number;
  linesHit: number;
  branches: number;
  branchesHit: number;
}

/** The counts of each file of src/ in an lcov report, its name written
 * with / (Node writes the system's separator there: src\server.ts on
 * Windows). */
export function readLcov(text: string): FileCoverage[] {
  return text
    .split('end_of_record')
    .map((record) => {
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)$`, 'm').exec(record)?.[1] ?? 0);
      const file = (/^SF:(.*)$/m.exec(record)?.[1] ?? '').replaceAll('\\', '/');
      return { file, lines: field('LF'), linesHit: field('LH'), branches: field('BRF'), branchesHit: field('BRH') };
    })
    .filter((coverage) => coverage.file.startsWith('src/'));
}

const percent = (hit: number, of: number) => (of === 0 ? 100 : (100 * hit) / of);

function main(): number {
  const values = parseCommandLine({ 'min-lines': { type: 'string' }, 'min-branches': { type: 'string' } });
  const dir = mkdtempSync(join(tmpdir(), 'selectchat-coverage-'));
  const lcov = join(dir, 'lcov.info');
  const tests = readdirSync('test')
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => `test/${name}`);
  const run = spawnSync(
    process.execPath,
    [
      '--enable-source-maps',
      '--import',
      'tsx',
      '--experimental-websocket',
      '--experimental-test-coverage',
      '--test',
      '--test-timeout=60000',
      '--test-reporter=dot',
      '--test-reporter-destination=stdout',
      '--test-reporter=lcov',
      `--test-reporter-destination=${lcov}`,
      ...tests,
    ],
    { stdio: 'inherit' },
  );
  if (run.status !== 0) return run.status ?? 1;
  const files = readLcov(readFileSync(lcov, 'utf8'));
  rmSync(dir, { recursive: true });
  const total = files.reduce(
    (sum, file) => ({
      file: 'src/ (all)',
      lines: sum.lines + file.lines,
      linesHit: sum.linesHit + file.linesHit,
      branches: sum.branches + file.branches,
      branchesHit: sum.branchesHit + file.branchesHit,
    }),
    { file: '', lines: 0, linesHit: 0, branches: 0, branchesHit: 0 },
  );
  console.log('\nfile                 lines   branches');
  for (const file of [...files, total]) {
    console.log(
      `${file.file.padEnd(20)} ${percent(file.linesHit, file.lines).toFixed(1).padStart(5)}%  ${percent(file.branchesHit, file.branches).toFixed(1).padStart(6)}%`,
    );
  }
  const lines = percent(total.linesHit, total.lines);
  const branches = percent(total.branchesHit, total.branches);
  const minLines = Number(values['min-lines'] ?? 0);
  const minBranches = Number(values['min-branches'] ?? 0);
  if (lines < minLines || branches < minBranches) {
    console.error(
      `Coverage of src/ is below the floor: lines ${lines.toFixed(1)}% (floor ${minLines}%), branches ${branches.toFixed(1)}% (floor ${minBranches}%)`,
    );
    return 1;
  }
  return 0;
}

// Run as `npm run coverage`; imported (by test/coverage.test.ts), it only lends readLcov.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main();
