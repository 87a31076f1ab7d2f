// Options given to npm instead of to the program: `npm run client --name
// alice`, the `--` forgotten. npm keeps `--name alice` for itself (as the
// variable npm_config_name) and the program gets nothing; the program says
// so and what to type instead. These run the real npm, as a reader would.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChildProgram, ROOT } from './helpers/chat.js';
import { doesNotRun, spawnNpm } from './helpers/system.js';

const skip = doesNotRun('npm', ['--version']);

/** `npm ARGS` in the project, in an environment free of the variables of
 * the npm that may be running these tests. */
function npm(args: string[]): ChildProgram {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));
  return new ChildProgram(spawnNpm('npm', args, { cwd: ROOT, env }));
}

describe('options npm took for itself', { skip }, () => {
  const cases: [string[], string][] = [
    [['run', 'client', '--name', 'alice'], 'npm took --name alice for itself; in any shell, type: npx tsx scripts/client.ts --name alice (see --help)'],
    [['start', '--port', '0'], 'npm took --port 0 for itself; in any shell, type: npx tsx scripts/server.ts --port 0 (see --help)'],
    [
      ['run', 'client', '--name', 'alice', '--trace', '--', '--port', '1'],
      'npm took --name alice --trace for itself; in any shell, type: npx tsx scripts/client.ts --name alice --trace --port 1 (see --help)',
    ],
    // The options already after `--` stay in the command to type; a word
    // with a space is quoted as PowerShell, cmd.exe and sh all read it.
    [
      ['run', 'client', '--port', '9999', '--', '--name', 'alice'],
      'npm took --port 9999 for itself; in any shell, type: npx tsx scripts/client.ts --port 9999 --name alice (see --help)',
    ],
    [
      ['run', 'client', '--port', '9999', '--', '--name', "alice o'neil"],
      'npm took --port 9999 for itself; in any shell, type: npx tsx scripts/client.ts --port 9999 --name "alice o\'neil" (see --help)',
    ],
  ];
  for (const [args, said] of cases) {
    test(`npm ${args.join(' ')}`, async () => {
      const program = npm(['--silent', ...args]);
      assert.deepEqual(await program.exited, { code: 1, signal: null }, program.stderr);
      assert.match(program.stderr, new RegExp(`^${said.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
      assert.deepEqual(program.output, [], 'nothing else: the server did not start');
    });
  }

  test('npm run client -- --help: the options reach the program', async () => {
    const program = npm(['--silent', 'run', 'client', '--', '--help']);
    assert.deepEqual(await program.exited, { code: 0, signal: null }, program.stderr);
    assert.match(program.output[0]!, /^Usage: npx tsx scripts\/client\.ts --name NAME/);
    assert.equal(program.stderr, '');
  });
});
