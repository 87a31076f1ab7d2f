// The first step (src/recipe/): its reactor core, its server and client over
// real sockets, byte for byte, and with the full client and the Python original.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { ChatClient } from '../src/recipe/client.js';
import { type Connection, Listener, Reactor, SelectError, type Source } from '../src/recipe/select.js';
import { ChatServer, DEFAULT_PORT } from '../src/recipe/server.js';
import { DEFAULT_SERVER_OPTIONS } from '../src/room/server.js';
import { frame } from '../src/wire/wire.js';
import { ChildProgram, RawClient, ROOT, within } from './helpers/chat.js';

const python = spawnSync('python3', ['-c', 'import pickle, select, socket, struct']);
const noPython = (python.error !== undefined || python.status !== 0) && `python3 does not run here (${python.error?.message ?? python.stderr})`;

/** The recipe's server in this process, on a free port, its console a pipe and its prints kept. */
async function startRecipeServer() {
  const printed: string[] = [];
  const stdin = new PassThrough();
  const server = await ChatServer.listen(0, { stdin, print: (line) => printed.push(line) });
  const port = Number(/^Server listening to port: (\d+) \.\.\.$/.exec(printed[0] ?? '')?.[1]);
  const running = server.run();
  return { server, port, printed, stdin, running };
}

/** A listening socket and a client connected to it, the server's side watched by a core reactor. */
async function connectedPair(reactor: Reactor): Promise<{ client: Socket; connection: Connection; close: () => void }> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const listener = new Listener(reactor, server);
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  const [ready] = await reactor.select([listener], []);
  assert.deepEqual(ready, [listener]);
  const connection = listener.accept();
  return {
    client,
    connection,
    close: () => {
      client.destroy();
      server.close();
    },
  };
}

/** What the wire carries for a message the recipe's Python 2 would pickle with protocol 2
 * (WIRE-FACTS): the length big-endian in bytes 0-3, zeros in 4-7, then PROTO 2, BINUNICODE, BINPUT 0, STOP. */
function expectedFrame(text: string): Buffer {
  const utf8 = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(utf8.length);
  const payload = Buffer.concat([Buffer.from([0x80, 0x02, 0x58]), length, utf8, Buffer.from([0x71, 0x00, 0x2e])]);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/** Resolves once a program has printed the prompt: its loop is in select(), Ctrl-C listened to. */
function prompted(program: ChildProgram, prompt: string): Promise<void> {
  let printed = '';
  return new Promise((resolve) =>
    program.child.stdout.on('data', (text: string) => {
      printed += text;
      if (printed.includes(prompt)) resolve();
    }),
  );
}

/** A string as a regular expression that matches it. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The bytes a socket receives, taken in order: `take(n)` resolves to the next n. */
function byteReader(socket: Socket): { take: (bytes: number) => Promise<Buffer> } {
  let received = Buffer.alloc(0);
  let waiting: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    waiting?.();
  });
  return {
    async take(bytes) {
      while (received.length < bytes) await new Promise<void>((resolve) => (waiting = resolve));
      const taken = received.subarray(0, bytes);
      received = received.subarray(bytes);
      return taken;
    },
  };
}

describe('the core (src/recipe/select.ts)', () => {
  test('a frame that comes a byte at a time makes its connection readable only once whole', async () => {
    const reactor = new Reactor();
    const { client, connection, close } = await connectedPair(reactor);
    const bytes = frame('hello');
    for (const byte of bytes.subarray(0, -1)) {
      client.write(Buffer.from([byte]));
      const seen = connection.inbox.bufferedBytes;
      // Until this byte is in, select() sees nothing ready: it sleeps, and its timeout ends it.
      while (connection.inbox.bufferedBytes === seen) assert.deepEqual(await reactor.select([connection], [], 20), [[], [], []]);
    }
    client.write(bytes.subarray(-1));
    assert.deepEqual(await reactor.select([connection], []), [[connection], [], []]);
    assert.equal(connection.inbox.next()?.length, bytes.length - 8);
    close();
  });

  test('an idle connection is not writable, so a select() given it sleeps', async () => {
    let answers = 0;
    const reactor = new Reactor({ answered: () => (answers += 1) });
    const { connection, close } = await connectedPair(reactor);
    answers = 0;
    const started = performance.now();
    assert.deepEqual(await reactor.select([], [connection], 200), [[], [], []]);
    assert.ok(performance.now() - started >= 190, 'select() returned before its timeout');
    assert.equal(answers, 1, 'select() answered more than once');
    close();
  });

  test('a connection is writable once output Node held back has gone, and once only', async () => {
    const reactor = new Reactor();
    const { client, connection, close } = await connectedPair(reactor);
    client.pause();
    // Written until Node keeps some back: the peer is not reading.
    while (connection.socket.writableLength === 0) connection.write(Buffer.alloc(1024 * 1024));
    client.resume();
    assert.deepEqual(await within(10_000, 'the drain', reactor.select([], [connection])), [[], [connection], []]);
    assert.deepEqual(await reactor.select([], [connection], 50), [[], [], []]);
    close();
  });

  test('the layers are called where select() starts, wakes and answers', async () => {
    const calls: string[] = [];
    const reactor = new Reactor({
      prepare: (inputs) => void calls.push(`prepare ${inputs.length}`),
      check: () => void calls.push('check'),
      answered: (readable) => void calls.push(`answered ${readable.length}`),
    });
    const { client, connection, close } = await connectedPair(reactor);
    calls.length = 0;
    // Nothing comes: select() sleeps, its timeout wakes it, and it answers with nothing.
    await reactor.select([connection], [], 20);
    // (Node's timers may fire a fraction of a millisecond early: then it sleeps once more.)
    assert.deepEqual([calls[0], calls.at(-1)], ['prepare 1', 'answered 0']);
    assert.ok(calls.length > 2 && calls.slice(1, -1).every((call) => call === 'check'), calls.join(', '));
    client.write(frame('hi'));
    calls.length = 0;
    await reactor.select([connection], []);
    assert.deepEqual([calls[0], calls.at(-1)], ['prepare 1', 'answered 1']);
    close();
  });

  test('interrupt() makes the select() asleep throw SelectError, as a signal does to Python 2', async () => {
    const reactor = new Reactor();
    const selecting = reactor.select([] as Source[], []);
    setImmediate(() => reactor.interrupt());
    await assert.rejects(selecting, SelectError);
  });
});

describe('the recipe server (src/recipe/server.ts)', () => {
  test('speaks the wire format byte for byte: handshake, join, chat line, hang-up', async () => {
    const { port, printed, stdin, running } = await startRecipeServer();
    const alice = connect(port, '127.0.0.1');
    await once(alice, 'connect');
    const fromServer = byteReader(alice);
    alice.write(expectedFrame('NAME: alice'));
    const reply = expectedFrame('CLIENT: 127.0.0.1');
    assert.deepEqual(await fromServer.take(reply.length), reply);
    const bob = await RawClient.join(port, 'bob');
    const joined = expectedFrame('\n(Connected: New client (2) from bob@127.0.0.1)');
    assert.deepEqual(await fromServer.take(joined.length), joined);
    bob.send('hi alice');
    const line = expectedFrame('\n#[bob@127.0.0.1]>>hi alice');
    assert.deepEqual(await fromServer.take(line.length), line);
    bob.end();
    const left = expectedFrame('\n(Now hung up: Client from bob@127.0.0.1)');
    assert.deepEqual(await fromServer.take(left.length), left);
    assert.match(printed[1] ?? '', /^Chat server: got connection \d+ from \('127\.0\.0\.1', \d+\)$/);
    assert.match(printed.at(-1) ?? '', /^Chat server: \d+ hung up$/);
    // Any line on its console stops it, as in the recipe.
    stdin.write('\n');
    await running;
    alice.destroy();
  });

  test('reads what Python 3 writes: a protocol 4 tuple, a byte at a time', async () => {
    const { server, port, running } = await startRecipeServer();
    const client = await RawClient.connect(port);
    // pickle.dumps(('NAME: alice',)) on Python 3.11, as WIRE-FACTS gives it.
    const pickle = Buffer.concat([
      Buffer.from('8004951100000000000000', 'hex'),
      Buffer.from([0x8c, 11]),
      Buffer.from('NAME: alice'),
      Buffer.from('9485942e', 'hex'),
    ]);
    const header = Buffer.alloc(8);
    header.writeUInt32BE(pickle.length);
    for (const byte of Buffer.concat([header, pickle])) client.writeRaw(Buffer.from([byte]));
    assert.equal(await client.next(), 'CLIENT: 127.0.0.1');
    server.sighandler();
    await running;
  });

  test('a malformed frame drops that client with a line that says why, and the others are told', async () => {
    const { port, printed, running, server } = await startRecipeServer();
    const alice = await RawClient.join(port, 'alice');
    const mallory = await RawClient.join(port, 'mallory');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from mallory@127.0.0.1)');
    mallory.writeRaw(Buffer.from('0000000100000001', 'hex'));
    assert.equal(await alice.next(), '\n(Now hung up: Client from mallory@127.0.0.1)');
    await mallory.closed;
    assert.ok(
      printed.some((line) => /^Chat server: \d+ failed: frame header bytes 4-7 must be zero/.test(line)),
      printed.join('\n'),
    );
    server.sighandler();
    await running;
  });

  test('SIGINT: it prints what the original prints, closes every client and exits 0', async () => {
    const program = ChildProgram.start('scripts/recipe-server.ts', ['--port', '0']);
    const listening = await program.line(/^Server listening to port: \d+ \.\.\.$/);
    const alice = await RawClient.join(Number(/\d+/.exec(listening)![0]), 'alice');
    const alicePort = alice.socket.localPort;
    program.child.kill('SIGINT');
    await alice.expectClosed();
    assert.deepEqual(await program.exited, { code: 0, signal: null });
    assert.deepEqual(program.output.slice(1), [`Chat server: got connection 1 from ('127.0.0.1', ${alicePort})`, 'Shutting down server...']);
    assert.equal(program.stderr, '');
  });

  test('listens by default where the full server does', () => {
    assert.equal(DEFAULT_PORT, DEFAULT_SERVER_OPTIONS.port);
  });
});

describe('the recipe client (src/recipe/client.ts)', () => {
  test('prints what the recipe prints, byte for byte, and leaves at the end of its input', async () => {
    const { port, server, running } = await startRecipeServer();
    const watcher = await RawClient.join(port, 'watcher');
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = '';
    let onPrint = () => {};
    output.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      onPrint();
    });
    const printedSoFar = (text: string) => new Promise<void>((resolve) => (onPrint = () => printed.includes(text) && resolve()));
    const client = new ChatClient('alice', port, { input, output });
    assert.equal(await client.connect(), true);
    const run = client.run();
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
    input.write('  hello there  \n\n');
    assert.equal(await watcher.next(), '\n#[alice@127.0.0.1]>>hello there');
    const heard = printedSoFar('hi alice');
    watcher.send('hi alice');
    await heard;
    input.end();
    assert.equal(await watcher.next(), '\n(Now hung up: Client from alice@127.0.0.1)');
    await run;
    // The prompt before each select(): how many depends on how the lines fell into rounds.
    const prompt = '[alice@127.0.0.1]> ';
    assert.match(
      printed,
      new RegExp(`^Now connected to chat server@ port ${port}\n(${literally(prompt)})+\n#\\[watcher@127\\.0\\.0\\.1\\]>>hi alice\n(${literally(prompt)})+$`),
    );
    server.sighandler();
    await running;
  });

  test('says so when no server listens, with exit code 1', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    server.close();
    const program = ChildProgram.start('scripts/recipe-client.ts', ['--name', 'alice', '--port', String(port)]);
    assert.deepEqual(await program.exited, { code: 1, signal: null });
    assert.deepEqual(program.output, [`Failed to connect to chat server @ port ${port}`]);
  });

  test('Ctrl-C: it prints " Client interrupted. " and leaves; a server hang-up: "Client shutting down."', async () => {
    const { port, server, running } = await startRecipeServer();
    const watcher = await RawClient.join(port, 'watcher');
    const alice = ChildProgram.start('scripts/recipe-client.ts', ['--name', 'alice', '--port', String(port)]);
    await prompted(alice, '[alice@127.0.0.1]> ');
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
    alice.child.kill('SIGINT');
    assert.deepEqual(await alice.exited, { code: 0, signal: null });
    assert.equal(alice.output.at(-1), '[alice@127.0.0.1]>  Client interrupted. ');
    const bob = ChildProgram.start('scripts/recipe-client.ts', ['--name', 'bob', '--port', String(port)]);
    await prompted(bob, '[bob@127.0.0.1]> ');
    server.sighandler();
    assert.deepEqual(await bob.exited, { code: 0, signal: null });
    assert.equal(bob.output.at(-1), '[bob@127.0.0.1]> Client shutting down.');
    await running;
    watcher.end();
  });
});

describe('the recipe server with other clients', () => {
  /** A client program joins the recipe's room, says a line, hears one, and the room hears it leave. */
  async function chatsThrough(start: (port: number) => ChildProgram, name: string, line: string, leave: (program: ChildProgram) => void) {
    const { port, server, running } = await startRecipeServer();
    const watcher = await RawClient.join(port, 'watcher');
    const program = start(port);
    assert.equal(await watcher.next(), `\n(Connected: New client (2) from ${name}@127.0.0.1)`);
    program.child.stdin.write(`${line}\n`);
    assert.equal(await watcher.next(), `\n#[${name}@127.0.0.1]>>${line}`);
    watcher.send(`hi ${name}`);
    await program.line(new RegExp(`#\\[watcher@127\\.0\\.0\\.1\\]>>hi ${name}$`));
    leave(program);
    assert.equal(await watcher.next(), `\n(Now hung up: Client from ${name}@127.0.0.1)`);
    await program.exited;
    server.sighandler();
    await running;
  }

  test('the full client (scripts/client.ts) chats through it', async () => {
    const start = (port: number) => ChildProgram.start('scripts/client.ts', ['--name', 'ts', '--port', String(port)]);
    await chatsThrough(start, 'ts', 'café ☕ from the full client', (ts) => ts.child.stdin.end());
  });

  test("the Python original's client chats through it", { skip: noPython }, async () => {
    const start = (port: number) => ChildProgram.python(['--name', 'py', '--port', String(port)]);
    // The recipe's client would print its prompt for ever at the end of its input: it is stopped instead.
    await chatsThrough(start, 'py', 'Grüße, 你好 😀', (py) => py.child.kill('SIGINT'));
  });

  test("the recipe client chats with the Python original's server", { skip: noPython }, async () => {
    const py = ChildProgram.python(['--name', 'server', '--port', '0']);
    const port = Number(/\d+/.exec(await py.line(/^Server listening to port: \d+ \.\.\.$/))![0]);
    const watcher = await RawClient.join(port, 'watcher');
    const alice = ChildProgram.start('scripts/recipe-client.ts', ['--name', 'alice', '--port', String(port)]);
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
    alice.child.stdin.write('hello python\n');
    assert.equal(await watcher.next(), '\n#[alice@127.0.0.1]>>hello python');
    watcher.send('hi alice');
    await alice.line(/#\[watcher@127\.0\.0\.1\]>>hi alice$/);
    py.child.kill('SIGKILL');
    await alice.exited;
  });
});

describe('the first step stays a first step', () => {
  const files = ['src/recipe/select.ts', 'src/recipe/server.ts', 'src/recipe/client.ts', 'scripts/recipe-server.ts', 'scripts/recipe-client.ts'];
  const source = (file: string) => readFileSync(`${ROOT}${file}`, 'utf8');

  /** Lines of code, as cloc counts them: blank lines and comment lines are not counted. */
  const linesOfCode = (file: string) =>
    source(file)
      .split('\n')
      .filter((line) => !/^\s*(\/\/.*|\/\*.*|\*.*)?$/.test(line)).length;

  // A first step a reader takes in at one sitting. (The recipe's Python is about 150 lines.)
  test("the recipe's server and client, with their command lines, hold at most 250 lines of code", () => {
    const programs = files.filter((file) => file !== 'src/recipe/select.ts');
    const counts = programs.map(linesOfCode);
    const total = counts.reduce((sum, count) => sum + count, 0);
    assert.ok(total <= 250, `${total} lines of code: ${programs.map((file, at) => `${file} ${counts[at]}`).join(', ')}`);
  });

  // The core with the hooks the room's layers plug into: bounded where it stands.
  test('the core they run on holds at most 165 lines of code', () => {
    const count = linesOfCode('src/recipe/select.ts');
    assert.ok(count <= 165, `${count} lines of code`);
  });
});
