// The port and the Python original, talking to each other both ways. The
// Python side is the project's own port of the recipe, in test/interop/,
// and the book's own Python 2.7 program (chat_server_with_select_py2.py,
// cPickle and byte strings), its output a pipe as in a script: there Python
// 2 encodes unicode as ASCII, so one é sent to it as unicode kills it.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodePickle, type PickleShape } from '../src/wire/pickle.js';
import { HEADER_SIZE } from '../src/wire/wire.js';
import { ChildProgram, RawClient, startServer, startServerProgram } from './helpers/chat.js';
import { loadPickleFixtures } from './helpers/fixtures.js';
import { NO_PYTHON3 } from './helpers/python.js';

const noPython = NO_PYTHON3 && `${NO_PYTHON3}, so there is no Python original to talk to`;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PYTHON2_ENV = { ...process.env, PYENV_VERSION: '2.7.18' };

/** Why the Python 2 tests cannot run here, or false when a Python 2 with cPickle runs. */
function noPython2(): string | false {
  const probe = spawnSync('python2', ['-c', 'import cPickle, sys; print sys.version_info[0]'], { env: PYTHON2_ENV, encoding: 'utf8' });
  if (probe.error !== undefined) return `python2 does not run here (${probe.error.message}), so there is no Python 2 program to talk to`;
  if (probe.status !== 0 || probe.stdout.trim() !== '2') return `python2 (PYENV_VERSION=2.7.18) did not run: ${probe.stderr.trim().split('\n').pop()}`;
  return false;
}
const noPython2Reason = noPython2();

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

/** The book's Python 2 client, its output a pipe. */
function python2Client(port: number, name: string, shape: 'tuple' | 'str' = 'tuple', protocol = 0): ChildProgram {
  const args = ['-u', 'test/interop/chat_server_with_select_py2.py', '--name', name, '--port', String(port), '--shape', shape, '--protocol', String(protocol)];
  return track(new ChildProgram(spawn('python2', args, { cwd: ROOT, env: PYTHON2_ENV, stdio: 'pipe' })));
}

/** Nothing went to its stderr: Python 2 prints its traceback there. */
function assertAlive(program: ChildProgram): void {
  assert.equal(program.stderr, '', 'the Python 2 client printed an error');
  assert.equal(program.child.exitCode, null, 'the Python 2 client exited');
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

  test("the book's Python 2 client joins with a non-ASCII name, reads a line with é into a pipe, and is answered in byte strings", {
    skip: noPython2Reason,
  }, async () => {
    const zoe = python2Client(port, 'Zoë');
    await zoe.line(/^Now connected to chat server@ port \d+$/);
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from Zoë@127.0.0.1)');

    watcher.send('café é');
    assert.equal(await zoe.line(/#\[watcher/), '#[watcher@127.0.0.1]>>café é');

    zoe.child.stdin.write('naïve é from Python 2\n');
    const line = await watcher.nextMessage();
    assert.equal(line?.text, '\n#[Zoë@127.0.0.1]>>naïve é from Python 2');
    assert.deepEqual(line?.payload, encodePickle(line.text), 'a unicode client is still answered in unicode');
    assertAlive(zoe);
  });

  test('Latin-1 bytes from a Python 2 client reach byte-string and unicode clients as the same text', { skip: noPython2Reason }, async () => {
    const tuple = python2Client(port, 'Ann', 'tuple', 0);
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from Ann@127.0.0.1)');
    const bare = python2Client(port, 'Bo', 'str', 2);
    assert.equal(await watcher.next(), '\n(Connected: New client (3) from Bo@127.0.0.1)');
    await tuple.line(/\(Connected: New client \(3\) from Bo@127\.0\.0\.1\)$/);

    // A terminal in a Latin-1 locale types ü as the one byte 0xfc.
    tuple.child.stdin.write(Buffer.from('Grüße, façade\n', 'latin1'));
    assert.equal(await watcher.next(), '\n#[Ann@127.0.0.1]>>Grüße, façade');
    assert.match(await bare.line(/#\[Ann/), /#\[Ann@127\.0\.0\.1\]>>Grüße, façade$/);

    bare.child.stdin.write('ça va, Zürich\n');
    assert.equal(await watcher.next(), '\n#[Bo@127.0.0.1]>>ça va, Zürich');
    assert.match(await tuple.line(/#\[Bo/), /#\[Bo@127\.0\.0\.1\]>>ça va, Zürich$/);
    assertAlive(tuple);
    assertAlive(bare);
  });

  test('a Python 2 client and a Python 3 client read each other', { skip: noPython2Reason || noPython }, async () => {
    const py2 = python2Client(port, 'Éloïse');
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from Éloïse@127.0.0.1)');
    const py3 = track(ChildProgram.python(['--name', 'Jürgen', '--port', String(port)]));
    assert.equal(await watcher.next(), '\n(Connected: New client (3) from Jürgen@127.0.0.1)');
    await py2.line(/\(Connected: New client \(3\) from Jürgen@127\.0\.0\.1\)$/);

    py2.child.stdin.write('été\n');
    assert.match(await py3.line(/#\[Éloïse/), /#\[Éloïse@127\.0\.0\.1\]>>été$/);
    py3.child.stdin.write('Straße\n');
    assert.match(await py2.line(/#\[Jürgen/), /#\[Jürgen@127\.0\.0\.1\]>>Straße$/);
    assertAlive(py2);
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

/** A frame around a pickle that Python wrote. */
function framed(pickle: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32BE(pickle.length, 0);
  return Buffer.concat([header, pickle]);
}

function fixture(name: string): Buffer {
  const found = loadPickleFixtures().find((f) => f.name === name);
  assert.ok(found, `no fixture ${name}`);
  return found.pickle;
}

/** Joins with a handshake pickle that Python wrote; resolves once the reply came. */
async function joinWith(port: number, handshake: Buffer): Promise<{ client: RawClient; reply: Buffer }> {
  const client = await RawClient.connect(port);
  client.writeRaw(framed(handshake));
  const reply = await client.nextMessage();
  assert.equal(reply?.text, 'CLIENT: 127.0.0.1');
  return { client, reply: reply.payload };
}

describe('byte strings and text that is not UTF-8, on the server, from the pickles Python wrote', () => {
  test('a client whose handshake is a Python 2 byte string is answered in Python 2 byte strings, and relayed as text to the others', async () => {
    const { port } = await startServer();
    const watcher = await RawClient.join(port, 'watcher');
    // cPickle.dumps(('NAME: Zoë',)), protocol 0: what the book's client sends.
    const { client: zoe, reply } = await joinWith(port, fixture('python 2 bytestring handshake tuple cPickle protocol 0'));
    assert.deepEqual(reply, encodePickle('CLIENT: 127.0.0.1', 'tuple', 'bytestring'));
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from Zoë@127.0.0.1)');

    watcher.send('café');
    const relayed = await zoe.nextMessage();
    assert.deepEqual(relayed?.payload, encodePickle('\n#[watcher@127.0.0.1]>>café', 'tuple', 'bytestring'));

    zoe.writeRaw(framed(fixture('python 2 bytestring latin-1 tuple cPickle protocol 0')));
    const line = await watcher.nextMessage();
    assert.equal(line?.text, '\n#[Zoë@127.0.0.1]>>café Zoë Grüße');
    assert.deepEqual(line?.payload, encodePickle(line.text), 'the unicode client is answered in unicode');
  });

  test('a Python 3 client that sends bytes is answered in bytes', async () => {
    const { port } = await startServer();
    const watcher = await RawClient.join(port, 'watcher');
    const handshake = Buffer.from('\x80\x03C\x0bNAME: bytesq\x00.', 'latin1'); // pickle.dumps(b'NAME: bytes', 3)
    const { client, reply } = await joinWith(port, handshake);
    assert.deepEqual(reply, encodePickle('CLIENT: 127.0.0.1', 'str', 'bytes'));
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from bytes@127.0.0.1)');
    client.writeRaw(framed(fixture('bytes latin-1 str protocol 2')));
    assert.equal(await watcher.next(), '\n#[bytes@127.0.0.1]>>café Zürich');
  });

  test('lone surrogates from a C locale are shown as U+FFFD; text that is not UTF-8 drops its sender alone, by name', async () => {
    const { port, logLine } = await startServer();
    const watcher = await RawClient.join(port, 'watcher');
    const c = await RawClient.join(port, 'c-locale');
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from c-locale@127.0.0.1)');
    c.writeRaw(framed(fixture('surrogates str protocol 4')));
    assert.equal(await watcher.next(), '\n#[c-locale@127.0.0.1]>>caf\ufffd\ufffd \ufffd\ufffd');

    c.writeRaw(framed(Buffer.from('\x80\x02X\x04\x00\x00\x00caf\xe9q\x00.', 'latin1')));
    assert.match(await logLine(/dropping/), /^Chat server: dropping client \d+ \(c-locale@127\.0\.0\.1\): BINUNICODE is not valid UTF-8$/);
    assert.equal(await watcher.next(), '\n(Now hung up: Client from c-locale@127.0.0.1)');
    const other = await RawClient.join(port, 'other');
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from other@127.0.0.1)');
    other.send('still here');
    assert.equal(await watcher.next(), '\n#[other@127.0.0.1]>>still here');
  });
});
