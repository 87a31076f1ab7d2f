import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChildProgram } from './helpers/chat.js';

test('npm run demo holds its conversation and stops everything', async () => {
  const demo = ChildProgram.start('scripts/demo.ts', ['--pace', '0']);
  assert.deepEqual(await demo.exited, { code: 0, signal: null });
  const shown = demo.output.join('\n');
  for (const expected of [
    'bob   | #[alice@127.0.0.1]>>Hello bob! One select() loop serves us both.',
    'alice | (Connected: New client (3) from carol@127.0.0.1)',
    'bob   | (Now hung up: Client from carol@127.0.0.1)',
    'server| Shutting down server...',
  ]) {
    assert.ok(shown.includes(expected), `the demo shows ${JSON.stringify(expected)}:\n${shown}`);
  }
});

test('npm run demo stops its server without a signal: where every signal is a forced kill, as on Windows, the server still closes', async () => {
  const demo = ChildProgram.start('scripts/demo.ts', ['--pace', '0'], ['--import', './test/helpers/signals-as-on-windows.ts']);
  assert.deepEqual(await demo.exited, { code: 0, signal: null }, demo.stderr);
  assert.ok(demo.output.includes('server| Shutting down server...'), demo.output.join('\n'));
});
