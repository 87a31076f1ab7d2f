// What the command lines say when they are used wrongly: one line on
// stderr, naming the flag and pointing to --help, exit code 1.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { frame } from '../src/wire/wire.js';
import { ChildProgram, firstFrame, handMadeServer } from './helpers/chat.js';

const cases: [string, string[], string][] = [
  ['scripts/server.ts', ['--bogus'], 'unknown option --bogus (see --help)'],
  ['scripts/client.ts', ['--name', 'a', '--bogus'], 'unknown option --bogus (see --help)'],
  ['scripts/server.ts', ['--port', '-1'], '--port needs a value; one that starts with "-" is written --port=-1 (see --help)'],
  ['scripts/client.ts', ['--name', 'a', '--port', '-1'], '--port needs a value; one that starts with "-" is written --port=-1 (see --help)'],
  ['scripts/server.ts', ['--port=-1'], '--port takes a whole number from 0 to 65535 (0 takes a free port), not "-1" (see --help)'],
  ['scripts/client.ts', ['--name', 'a', '--port', '0'], '--port takes a whole number from 1 to 65535 (the server\'s port), not "0" (see --help)'],
  ['scripts/server.ts', ['--port', 'eighty'], '--port takes a whole number from 0 to 65535 (0 takes a free port), not "eighty" (see --help)'],
  ['scripts/server.ts', ['--port'], '--port needs a value (see --help)'],
  ['scripts/server.ts', ['8800'], 'unexpected argument 8800: every option starts with -- (see --help)'],
  ['scripts/client.ts', [], '--name is required (see --help)'],
  ['scripts/client.ts', ['--name', 'a', '--pickle-shape', 'list'], '--pickle-shape is str or tuple, not "list" (see --help)'],
  [
    'scripts/bench.ts',
    ['--only', 'burst-100,burst100'],
    '--only names a scenario that is not one: "burst100"; the scenarios are burst-100x1000, burst-100, burst-20, latency-50, scale-10, scale-100, scale-1000, idle-100, storm-10000 (see --help)',
  ],
];

describe('usage errors', () => {
  for (const [script, args, said] of cases) {
    test(`${script} ${args.join(' ')}`, async () => {
      const program = ChildProgram.start(script, args);
      assert.deepEqual(await program.exited, { code: 1, signal: null });
      assert.equal(program.stderr, `${said}\n`);
      assert.deepEqual(program.output, []);
    });
  }
});

describe('scripts/client.ts --wait', () => {
  test('keeps trying until a server listens', async () => {
    // A port that is free now, and a server that will listen on it later.
    const probe = await handMadeServer();
    const { port } = probe;
    probe.close();
    const client = ChildProgram.start('scripts/client.ts', ['--name', 'alice', '--port', String(port), '--wait', '10']);
    // Half a second of refusals first, so that it is the retrying that is tested.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(client.child.exitCode, null, 'still trying');
    const server = createServer();
    const accepted = once(server, 'connection').then(([socket]) => socket as Socket);
    server.listen(port, '127.0.0.1');
    const socket = await accepted;
    assert.equal((await firstFrame(socket)).includes(Buffer.from('NAME: alice')), true);
    socket.write(frame('CLIENT: 127.0.0.1'));
    assert.equal(await client.line(/^Now connected/), `Now connected to chat server@ port ${port}`);
    client.child.stdin.end();
    // The client's end of output, then the server's close: all taken, exit 0.
    await once(socket.resume(), 'end');
    assert.deepEqual(await client.exited, { code: 0, signal: null });
    server.close();
  });
});
