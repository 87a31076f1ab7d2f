// The client against a server (or peers) that mean harm: text that would
// drive the terminal, frames at and past the limits, a flood on stdin, and
// failures that must say why.

import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CLIENT_MAX_FRAME_SIZE } from '../src/room/client.js';
import { frame } from '../src/wire/wire.js';
import { ChildProgram, firstFrame, handMadeServer, PEAK_RSS_REPORTER, RawClient, startServer, within } from './helpers/chat.js';
import { header } from './helpers/frames.js';
import { HOSTILE_LINES } from './helpers/hostile-lines.js';

/** A server made by hand: it completes the handshake, then does what the test says. */
describe('scripts/client.ts against a hostile server', () => {
  let server: Awaited<ReturnType<typeof handMadeServer>>;
  let port: number;

  beforeEach(async () => {
    server = await handMadeServer();
    port = server.port;
  });
  afterEach(() => server.close());

  async function handshake(): Promise<Socket> {
    const socket = await server.accepted;
    await firstFrame(socket);
    socket.write(frame('CLIENT: 127.0.0.1'));
    return socket;
  }

  test('control characters from the server are shown, not obeyed, even into a pipe', async () => {
    const client = ChildProgram.start('scripts/client.ts', ['--name', 'alice', '--port', String(port)]);
    // Nothing to send: the client waits for the server to close, then exits 0.
    client.child.stdin.end();
    const socket = await handshake();
    for (const [sent] of HOSTILE_LINES) socket.write(frame(sent));
    socket.end();
    assert.deepEqual(await client.exited, { code: 0, signal: null });
    assert.deepEqual(client.output, [`Now connected to chat server@ port ${port}`, ...HOSTILE_LINES.flatMap(([, shown]) => ['', shown])]);
  });

  test('a frame as large as a relayed 1 MiB line is taken; a header promising 4 GiB is refused', async () => {
    const client = ChildProgram.start('scripts/client.ts', ['--name', 'alice', '--port', String(port)]);
    client.child.stdin.end();
    const socket = await handshake();
    // What the Python original relays for a 1 MiB line of Latin-1 text.
    const large = `\n#[${'n'.repeat(64)}@127.0.0.1]>>${'é'.repeat(1024 * 1024)}`;
    socket.write(frame(large));
    socket.write(header(0xffffffff));
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.equal(client.output[2], large.slice(1));
    assert.equal(client.output.at(-1), 'Client shutting down.');
    assert.equal(client.stderr, `Why: malformed message from the chat server: frame of 4294967295 bytes is over the limit of ${CLIENT_MAX_FRAME_SIZE}\n`);
    socket.destroy();
  });
});

describe('scripts/client.ts says why it failed', () => {
  test('a host that does not resolve', async () => {
    const client = ChildProgram.start('scripts/client.ts', ['--name', 'alice', '--host', 'no-such-host.invalid', '--port', '8800']);
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.deepEqual(client.output, ['Failed to connect to chat server @ port 8800']);
    assert.match(client.stderr, /^Why: cannot reach no-such-host\.invalid port 8800: host not found \((ENOTFOUND|EAI_AGAIN)\)\n$/);
  });

  test('a name the server refuses: the server says why, and the client says it', async () => {
    const chat = await startServer();
    const client = ChildProgram.start('scripts/client.ts', ['--name', 'n'.repeat(65), '--port', String(chat.port)]);
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.deepEqual(client.output, [`Failed to connect to chat server @ port ${chat.port}`], 'not "Now connected": the server refused the name');
    assert.equal(client.stderr, 'Why: the server refused this client: name longer than 64 characters\n');
    assert.match(await chat.logLine(/refused/), /: name longer than 64 characters$/);
    await chat.stop();
  });

  test('a full room: the newcomer is told the room is full, not that its name was refused', async () => {
    // A room of two filled from one machine: no share per address.
    const chat = await startServer({ maxClients: 2, maxPerAddress: 0 });
    const alice = await RawClient.join(chat.port, 'alice');
    const bob = await RawClient.join(chat.port, 'bob');
    const carol = ChildProgram.start('scripts/client.ts', ['--name', 'carol', '--port', String(chat.port)]);
    assert.deepEqual(await carol.exited, { code: 1, signal: null });
    assert.deepEqual(carol.output, [`Failed to connect to chat server @ port ${chat.port}`]);
    assert.equal(carol.stderr, 'Why: the server refused this client: the room is full (2 clients)\n');
    alice.socket.destroy();
    bob.socket.destroy();
    await chat.stop();
  });
});

describe('scripts/client.ts with a flood on stdin', () => {
  test('100,000 piped lines all arrive, in order, and the client stays small', async (t) => {
    const chat = await startServer();
    const watcher = await RawClient.join(chat.port, 'watcher');
    const LINES = 100_000;
    const bot = ChildProgram.start('scripts/client.ts', ['--name', 'bot', '--port', String(chat.port)], PEAK_RSS_REPORTER);
    const started = Date.now();
    // As fast as the pipe takes it, like `seq 1 100000 |`.
    bot.child.stdin.end(Array.from({ length: LINES }, (_, n) => `${n + 1}\n`).join(''));
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from bot@127.0.0.1)');
    for (let n = 1; n <= LINES; n++) {
      const message = await within(30_000, `line ${n}`, watcher.next());
      assert.equal(message, `\n#[bot@127.0.0.1]>>${n}`);
    }
    const seconds = (Date.now() - started) / 1000;
    assert.deepEqual(await bot.exited, { code: 0, signal: null });
    const peakMb = bot.reportedPeakRssMb();
    t.diagnostic(`${LINES} lines in ${seconds.toFixed(1)} s (${Math.round(LINES / seconds)} lines/s); client peak RSS ${peakMb} MB`);
    assert.ok(peakMb < 150, `client peak RSS ${peakMb} MB`);
    await chat.stop();
  });
});
