import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { decodePickle } from '../src/wire/pickle.js';
import { frame } from '../src/wire/wire.js';
import { ChildProgram, firstFrame, handMadeServer, RawClient, startServerProgram } from './helpers/chat.js';
import { NO_SIGNALS } from './helpers/system.js';

function startClient(port: number, name: string, extra: string[] = []): ChildProgram {
  return ChildProgram.start('scripts/client.ts', ['--name', name, '--port', String(port), ...extra]);
}

/** A client connected to the server and done with its handshake. */
async function connectedClient(port: number, name: string, extra: string[] = []): Promise<ChildProgram> {
  const client = startClient(port, name, extra);
  assert.equal(await client.line(/^Now connected/), `Now connected to chat server@ port ${port}`);
  return client;
}

describe('scripts/client.ts with the server', () => {
  let server: Awaited<ReturnType<typeof startServerProgram>>;
  let bob: RawClient;

  beforeEach(async () => {
    server = await startServerProgram();
    bob = await RawClient.join(server.port, 'bob');
  });
  afterEach(async () => {
    server.program.child.kill('SIGKILL');
    await server.program.exited;
  });

  /** Bob sees alice join, so her handshake is done. */
  async function aliceJoins(extra: string[] = []): Promise<ChildProgram> {
    const alice = await connectedClient(server.port, 'alice', extra);
    assert.equal(await bob.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
    return alice;
  }

  test('sends typed lines and prints incoming ones as the original does', async () => {
    const alice = await aliceJoins();
    alice.child.stdin.write('hello bob\n');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>hello bob');
    bob.send('hi alice');
    // The message starts with a newline, and the client adds one: data + '\n'.
    assert.equal(await alice.line(/#\[bob/), '#[bob@127.0.0.1]>>hi alice');
    assert.equal(alice.output.at(-2), '');
    alice.child.kill('SIGINT');
  });

  test('trims what is typed and sends nothing for an empty line', async () => {
    const alice = await aliceJoins();
    alice.child.stdin.write('\n   \n\t padded  \t\n');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>padded');
    alice.child.stdin.write('next\n');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>next', 'nothing was sent between the two');
    alice.child.kill('SIGINT');
  });

  test('piped input is all sent, then the client leaves and exits 0', async () => {
    const alice = startClient(server.port, 'alice');
    alice.child.stdin.end('one\ntwo\nthree\n');
    assert.equal(await bob.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>one');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>two');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>three');
    assert.equal(await bob.next(), '\n(Now hung up: Client from alice@127.0.0.1)');
    assert.deepEqual(await alice.exited, { code: 0, signal: null });
  });

  test('non-ASCII text both ways', async () => {
    const alice = await aliceJoins();
    alice.child.stdin.write('Grüße, 你好 😀\n');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>Grüße, 你好 😀');
    bob.send('café ☕');
    assert.equal(await alice.line(/#\[bob/), '#[bob@127.0.0.1]>>café ☕');
    alice.child.kill('SIGINT');
  });

  test('Ctrl-C as a signal prints " Client interrupted. " and exits 0', { skip: NO_SIGNALS }, async () => {
    const alice = await aliceJoins();
    alice.child.kill('SIGINT');
    assert.equal(await alice.line(/interrupted/), ' Client interrupted. ');
    assert.deepEqual(await alice.exited, { code: 0, signal: null });
    assert.equal(await bob.next(), '\n(Now hung up: Client from alice@127.0.0.1)');
  });

  test('the server going away before the end of piped input: "Client shutting down.", the reason, exit 1', async () => {
    const alice = await aliceJoins();
    server.program.child.kill('SIGKILL');
    assert.equal(await alice.line(/shutting/), 'Client shutting down.');
    assert.deepEqual(await alice.exited, { code: 1, signal: null });
    assert.equal(alice.stderr, 'Why: the server closed the connection before taking everything: the rest of the input was not read\n');
  });
});

describe('scripts/client.ts without a working server', () => {
  test('no server listening: one line, exit 1', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as { port: number };
    closed.close();
    const client = startClient(port, 'alice');
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.deepEqual(client.output, [`Failed to connect to chat server @ port ${port}`]);
    assert.equal(client.stderr, `Why: cannot reach 127.0.0.1 port ${port}: connection refused: no server is listening there (ECONNREFUSED)\n`);
  });

  test('--name is required', async () => {
    const client = ChildProgram.start('scripts/client.ts', []);
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.equal(client.stderr, '--name is required (see --help)\n');
  });

  test('--help documents every option', async () => {
    const client = ChildProgram.start('scripts/client.ts', ['--help']);
    assert.deepEqual(await client.exited, { code: 0, signal: null });
    for (const flag of [
      '--name',
      '--port',
      '--host',
      '--pickle-shape',
      '--max-frame-size',
      '--server-max-frame-size',
      '--handshake-timeout',
      '--wait',
      '--trace',
    ])
      assert.ok(client.output.join('\n').includes(flag), flag);
  });
});

describe('scripts/client.ts against a hand-made server', () => {
  let server: Awaited<ReturnType<typeof handMadeServer>>;
  let port: number;
  let accepted: Promise<Socket>;

  beforeEach(async () => {
    server = await handMadeServer();
    ({ port, accepted } = server);
  });
  afterEach(() => server.close());

  test('--pickle-shape tuple sends 1-tuples, as the second edition does', async () => {
    const client = startClient(port, 'alice', ['--pickle-shape', 'tuple']);
    const socket = await accepted;
    assert.deepEqual(decodePickle(await firstFrame(socket)), { text: 'NAME: alice', shape: 'tuple', stringType: 'unicode' });
    socket.write(frame('CLIENT: 127.0.0.1', 'tuple'));
    client.child.stdin.end('hi\n');
    assert.deepEqual(decodePickle(await firstFrame(socket)), { text: 'hi', shape: 'tuple', stringType: 'unicode' });
    // The client's end of output first: then the server's close means it took everything.
    await once(socket.resume(), 'end');
    assert.deepEqual(await client.exited, { code: 0, signal: null });
  });

  test('a malformed frame from the server: one line, exit 1', async () => {
    const client = startClient(port, 'alice');
    client.child.stdin.end();
    const socket = await accepted;
    await firstFrame(socket);
    socket.write(frame('CLIENT: 127.0.0.1'));
    socket.write(Buffer.from('00000002000000004e2e', 'hex')); // a pickle of None
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.equal(client.stderr, 'Why: malformed message from the chat server: pickle opcode NONE is not allowed (only strings are accepted)\n');
    socket.destroy();
  });
});
