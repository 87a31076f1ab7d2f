// The port and the Python original, talking to each other both ways. The
// Python side is the project's own port of the recipe, in test/interop/.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { encodePickle, type PickleShape } from '../src/pickle.js';
import { ChildProgram, RawClient, startServerProgram } from './helpers/chat.js';
import { NO_PYTHON3 } from './helpers/python.js';

const noPython = NO_PYTHON3 && `${NO_PYTHON3}, so there is no Python original to talk to`;

/** Everyone still running at the end of a test is stopped. */
const running: ChildProgram[] = [];
function track(program: ChildProgram): ChildProgram {
  running.push(program);
  return program;
}
async function stopAll(): Promise<void> {
  for (const program of running.splice(0)) {
    program.child.kill('SIGKILL');
    await program.exited;
  }
}

function pythonClient(port: number, name: string, shape: PickleShape = 'str', protocol?: number): ChildProgram {
  const args = ['--name', name, '--port', String(port), '--shape', shape];
  if (protocol !== undefined) args.push('--protocol', String(protocol));
  return track(ChildProgram.python(args));
}

function tsClient(port: number, name: string, shape: PickleShape = 'str'): ChildProgram {
  return track(ChildProgram.start('scripts/client.ts', ['--name', name, '--port', String(port), '--pickle-shape', shape]));
}

// The suites are not skipped as a whole: a skipped suite would report no
// tests at all; each test is skipped, with the reason, instead.
describe('Python clients on the TypeScript server', () => {
  let port: number;
  let watcher: RawClient;

  beforeEach(async () => {
    const server = await startServerProgram();
    track(server.program);
    port = server.port;
    watcher = await RawClient.join(port, 'watcher');
  });
  afterEach(stopAll);

  test('a Python client of each shape and a TypeScript client share one room', { skip: noPython }, async () => {
    const seed = pythonClient(port, 'pyseed', 'str');
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from pyseed@127.0.0.1)');
    const second = pythonClient(port, 'pytuple', 'tuple');
    assert.equal(await watcher.next(), '\n(Connected: New client (3) from pytuple@127.0.0.1)');
    const ts = tsClient(port, 'ts');
    assert.equal(await watcher.next(), '\n(Connected: New client (4) from ts@127.0.0.1)');
    // Join notices reach Python clients of both shapes.
    await seed.line(/^\(Connected: New client \(4\) from ts@127\.0\.0\.1\)$/);
    await second.line(/^\(Connected: New client \(4\) from ts@127\.0\.0\.1\)$/);

    seed.child.stdin.write('hello from the seed shape\n');
    assert.equal(await watcher.next(), '\n#[pyseed@127.0.0.1]>>hello from the seed shape');
    await second.line(/^#\[pyseed@127\.0\.0\.1\]>>hello from the seed shape$/);
    await ts.line(/^#\[pyseed@127\.0\.0\.1\]>>hello from the seed shape$/);

    second.child.stdin.write('Grüße aus dem Tupel, 你好 😀\n');
    assert.equal(await watcher.next(), '\n#[pytuple@127.0.0.1]>>Grüße aus dem Tupel, 你好 😀');
    await seed.line(/^#\[pytuple@127\.0\.0\.1\]>>Grüße aus dem Tupel, 你好 😀$/);
    await ts.line(/^#\[pytuple@127\.0\.0\.1\]>>Grüße aus dem Tupel, 你好 😀$/);

    ts.child.stdin.write('café ☕ from TypeScript\n');
    assert.equal(await watcher.next(), '\n#[ts@127.0.0.1]>>café ☕ from TypeScript');
    await seed.line(/^#\[ts@127\.0\.0\.1\]>>café ☕ from TypeScript$/);
    await second.line(/^#\[ts@127\.0\.0\.1\]>>café ☕ from TypeScript$/);

    // Hang-ups, seen across languages.
    ts.child.stdin.end();
    assert.equal(await watcher.next(), '\n(Now hung up: Client from ts@127.0.0.1)');
    await seed.line(/^\(Now hung up: Client from ts@127\.0\.0\.1\)$/);
    second.child.kill('SIGKILL');
    assert.equal(await watcher.next(), '\n(Now hung up: Client from pytuple@127.0.0.1)');
    await seed.line(/^\(Now hung up: Client from pytuple@127\.0\.0\.1\)$/);
  });

  test('Python frames of every protocol, both shapes, reach a reader byte for byte', { skip: noPython }, async () => {
    let count = 1;
    for (const shape of ['str', 'tuple'] as const) {
      for (let protocol = 0; protocol <= 5; protocol++) {
        const name = `py-${shape}-${protocol}`;
        const python = pythonClient(port, name, shape, protocol);
        assert.equal(await watcher.next(), `\n(Connected: New client (${++count}) from ${name}@127.0.0.1)`);
        const text = `protocol ${protocol}, shape ${shape}: naïve 漢字 🐍 \\ back\\slash`;
        python.child.stdin.write(`${text}\n`);
        const expected = `\n#[${name}@127.0.0.1]>>${text}`;
        const received = await watcher.nextMessage();
        assert.equal(received?.text, expected);
        assert.deepEqual(received?.payload, encodePickle(expected, 'str'), 'the reader gets the exact bytes Python 3 writes for it');
      }
    }
  });
});

describe('the TypeScript client on a Python server', () => {
  afterEach(stopAll);

  for (const shape of ['str', 'tuple'] as const) {
    test(`of the ${shape} shape, chatting with a Python client`, { skip: noPython }, async () => {
      const server = track(ChildProgram.python(['--name', 'server', '--port', '0', '--shape', shape]));
      const port = Number(/\d+/.exec(await server.line(/^Server listening to port: \d+ \.\.\.$/))![0]);
      const python = pythonClient(port, 'py', shape);
      await python.line(/^Now connected/);
      await server.line(/^Chat server: got connection/);
      const ts = tsClient(port, 'ts', shape);
      await ts.line(/^Now connected/);
      await python.line(/^\(Connected: New client \(2\) from ts@127\.0\.0\.1\)$/);

      ts.child.stdin.write('hello, Python ✓\n');
      await python.line(/^#\[ts@127\.0\.0\.1\]>>hello, Python ✓$/);
      python.child.stdin.write('hello, TypeScript ✓\n');
      assert.equal(await ts.line(/^#\[py/), '#[py@127.0.0.1]>>hello, TypeScript ✓');

      ts.child.stdin.end();
      await python.line(/^\(Now hung up: Client from ts@127\.0\.0\.1\)$/);
      assert.deepEqual(await ts.exited, { code: 0, signal: null });
    });
  }
});
