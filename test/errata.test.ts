// docs/ERRATA.md shows each defect of the original with a block of shell
// commands. This runs every block, in order, in one bash, as a reader
// pasting them would, and checks that each shows what the text says.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers/chat.js';

const skip = spawnSync('python3', ['--version']).error !== undefined && 'python3 is not on the PATH, so there is no Python original to show';

/** What each block, in order, must print (stdout and stderr together). */
const SHOWS: (RegExp | null)[] = [
  null, // P, start and stop
  /--name server/, // 1. ps shows the spinning server
  null, // 2. alice hangs until timeout gives up
  /IndexError: list index out of range/, // 3.
  /\/tmp\/pwned/, // 4. the file the pickle created
  /--name server/, // 5. ps shows the spinning server
  /Chat server: \d+ hung up/, // 6.
  /Chat server: \d+ hung up/, // 7.
  /IndexError: list index out of range/, // 8.
  /\[bot@127\.0\.0\.1\]> \[bot@127\.0\.0\.1\]> /, // 9.
];

test('every command block in docs/ERRATA.md works pasted in order', { skip, timeout: 90_000 }, async () => {
  const blocks = [...readFileSync(join(ROOT, 'docs/ERRATA.md'), 'utf8').matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
  assert.equal(blocks.length, SHOWS.length, 'a check for each block');
  const script = ['exec 2>&1', ...blocks.flatMap((block, i) => [block, `echo "=== end of block ${i}"`])].join('\n');
  const bash = spawn('bash', ['--norc', '--noprofile', '-c', script], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  let output = '';
  bash.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  const [code] = await new Promise<[number | null]>((resolve) => bash.once('exit', (exitCode) => resolve([exitCode])));
  // What a block left behind (the `sleep 60` holding a console) goes too.
  try {
    process.kill(-bash.pid!, 'SIGKILL');
  } catch {}
  // What a block shows comes after the end of the block before it: a
  // server in the background may print a moment after its block ended.
  const from = (block: number) => (block === 0 ? 0 : output.indexOf(`=== end of block ${block - 1}\n`));
  assert.equal(code, 0, output);
  assert.doesNotMatch(output, /Address already in use|ConnectionRefusedError|command not found|BrokenPipeError/);
  SHOWS.forEach((expected, i) => {
    if (expected !== null) assert.match(output.slice(from(i)), expected, `block ${i} shows what the text says:\n${output.slice(from(i))}`);
  });
});
