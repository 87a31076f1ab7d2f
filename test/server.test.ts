import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { encodePickle } from '../src/wire/pickle.js';
import { frame } from '../src/wire/wire.js';
import { header } from './helpers/frames.js';
import { RawClient, startServer } from './helpers/chat.js';

type Server = Awaited<ReturnType<typeof startServer>>;

describe('the chat server', () => {
  // Each test gets a server of its own, so counts and logs start afresh.
  let chat: Server;
  beforeEach(async () => {
    chat = await startServer({ handshakeTimeoutMs: 300 });
  });
  afterEach(() => chat.stop());

  test('answers the handshake with exactly the bytes Python 3 writes', async () => {
    const socket = connect({ port: chat.port, host: '127.0.0.1' });
    await once(socket, 'connect');
    socket.write(frame('NAME: alice'));
    const [reply] = (await once(socket, 'data')) as [Buffer];
    // struct.pack("L", htonl(27)) + pickle.dumps("CLIENT: 127.0.0.1", protocol=2)
    assert.equal(reply.toString('hex'), `0000001b0000000080025811000000${Buffer.from('CLIENT: 127.0.0.1').toString('hex')}71002e`);
    socket.destroy();
  });

  test('join, chat line and hang-up, as the original words them', async () => {
    const alice = await RawClient.join(chat.port, 'alice');
    const bob = await RawClient.join(chat.port, 'bob');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
    alice.send('hello bob');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>hello bob');
    bob.send('hi alice');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>hi alice', 'alice got nothing of her own line');
    bob.end();
    assert.equal(await alice.next(), '\n(Now hung up: Client from bob@127.0.0.1)');
    alice.end();
    await chat.logLine(/hung up$/);
    await chat.logLine(/hung up$/);
    assert.equal(chat.server.clients, 0);
    assert.equal(chat.server.clientmap.size, 0, 'clientmap entries are deleted');
  });

  test('logs each connection with its number and address, and each hang-up', async () => {
    const carol = await RawClient.join(chat.port, 'carol');
    const accepted = chat.logged.findLast((line) => line.startsWith('Chat server: got connection'))!;
    const [, id] = /^Chat server: got connection (\d+) from \('127\.0\.0\.1', \d+\)$/.exec(accepted) ?? [];
    assert.ok(id, accepted);
    carol.end();
    assert.equal(await chat.logLine(/hung up$/), `Chat server: ${id} hung up`);
  });

  test('a frame fed one byte at a time', async () => {
    const alice = await RawClient.join(chat.port, 'alice');
    const bob = await RawClient.connect(chat.port);
    const bytes = Buffer.concat([frame('NAME: bob'), frame('slowly')]);
    for (const byte of bytes) {
      bob.writeRaw(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(await bob.next(), 'CLIENT: 127.0.0.1');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>slowly');
  });

  test('two frames in one write, handshake included', async () => {
    const alice = await RawClient.join(chat.port, 'alice');
    const bob = await RawClient.connect(chat.port);
    bob.writeRaw(Buffer.concat([frame('NAME: bob'), frame('one'), frame('two')]));
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>one');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>two');
  });

  test('a silent client and a half-sent frame delay no one', async () => {
    await RawClient.connect(chat.port); // and says nothing
    const alice = await RawClient.join(chat.port, 'alice');
    const halfway = await RawClient.join(chat.port, 'halfway');
    halfway.writeRaw(frame('never finished').subarray(0, 12));
    assert.equal(await alice.next(), '\n(Connected: New client (2) from halfway@127.0.0.1)');
    const bob = await RawClient.join(chat.port, 'bob');
    bob.send('still here');
    assert.equal(await alice.next(), '\n(Connected: New client (3) from bob@127.0.0.1)');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>still here');
  });

  test('a client that never sends its name is dropped after the handshake timeout', async () => {
    const silent = await RawClient.connect(chat.port);
    assert.equal(await silent.expectRefused(), 'no handshake within 0.3 s');
    assert.match(await chat.logLine(/refused/), /^Chat server: refused connection \d+ from 127\.0\.0\.1: no handshake within 0\.3 s$/);
  });

  test('an empty message is ignored, not taken for a hang-up', async () => {
    const alice = await RawClient.join(chat.port, 'alice');
    const bob = await RawClient.join(chat.port, 'bob');
    await alice.next();
    bob.send('');
    bob.send('after the empty one');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>after the empty one');
  });

  test('non-ASCII names and text', async () => {
    const alice = await RawClient.join(chat.port, 'Zoë');
    const bob = await RawClient.join(chat.port, '小明');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from 小明@127.0.0.1)');
    bob.send('你好, Zoë 👋');
    assert.equal(await alice.next(), '\n#[小明@127.0.0.1]>>你好, Zoë 👋');
  });

  test('lines sent just before leaving still arrive, in order', async () => {
    const alice = await RawClient.join(chat.port, 'alice');
    const bob = await RawClient.join(chat.port, 'bob');
    await alice.next();
    bob.socket.end(Buffer.concat([1, 2, 3].map((n) => frame(`last ${n}`))));
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>last 1');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>last 2');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>last 3');
    assert.equal(await alice.next(), '\n(Now hung up: Client from bob@127.0.0.1)');
  });

  test('thirty clients leaving at once, some by reset', async () => {
    const watcher = await RawClient.join(chat.port, 'watcher');
    const leavers: RawClient[] = [];
    for (let i = 0; i < 30; i++) {
      leavers.push(await RawClient.join(chat.port, `leaver${i}`));
      assert.equal(await watcher.next(), `\n(Connected: New client (${i + 2}) from leaver${i}@127.0.0.1)`);
    }
    // Everyone talks and leaves in the same instant: the server is writing to
    // sockets that are going away.
    leavers.forEach((leaver, i) => {
      leaver.send(`bye from ${i}`);
      if (i % 2 === 0) leaver.socket.resetAndDestroy();
      else leaver.end();
    });
    const hungUp = new Set<string>();
    while (hungUp.size < 30) {
      const message = (await watcher.next())!;
      const left = /^\n\(Now hung up: Client from (leaver\d+)@127\.0\.0\.1\)$/.exec(message);
      if (left) hungUp.add(left[1]!);
      else assert.match(message, /^\n#\[leaver\d+@127\.0\.0\.1\]>>bye from \d+$/);
    }
    assert.equal(chat.server.clients, 1);
    watcher.send('anyone?');
    const late = await RawClient.join(chat.port, 'late');
    late.send('me');
    assert.equal(await watcher.next(), '\n(Connected: New client (2) from late@127.0.0.1)');
    assert.equal(await watcher.next(), '\n#[late@127.0.0.1]>>me');
  });

  test('a bad first frame drops only that connection, with a reason', async () => {
    const alice = await RawClient.join(chat.port, 'alice');
    const stranger = await RawClient.connect(chat.port);
    stranger.send('hello without a name');
    assert.equal(await stranger.expectRefused(), 'first message is not "NAME: <name>"');
    assert.match(await chat.logLine(/refused/), /^Chat server: refused connection \d+ from 127\.0\.0\.1: first message is not "NAME: <name>"$/);
    await RawClient.join(chat.port, 'bob');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
  });

  test('a pickle of exactly 1 MiB is taken but not relayed: its sender is told, in its shape, and stays', async () => {
    const alice = await RawClient.join(chat.port, 'alice', 'tuple');
    const bob = await RawClient.join(chat.port, 'bob');
    await alice.next();
    // PROTO 2, BINUNICODE and its length, the text, BINPUT 0, STOP: 10 bytes around the text.
    const text = 'y'.repeat(1024 * 1024 - 10);
    const payload = encodePickle(text, 'str');
    assert.equal(payload.length, 1024 * 1024);
    alice.writeRaw(Buffer.concat([header(payload.length), payload]));
    const notice = await alice.nextMessage();
    assert.equal(notice?.shape, 'tuple');
    assert.equal(notice?.text, '\n(Not relayed: as relayed it would be a frame of 1048600 bytes, over the limit of 1048576)');
    alice.send('a shorter one', 'tuple');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>a shorter one');
  });

  test('a malformed frame after the handshake drops that client, announced as hung up', async () => {
    const alice = await RawClient.join(chat.port, 'alice');
    const mallory = await RawClient.join(chat.port, 'mallory');
    await alice.next();
    mallory.writeRaw(Buffer.concat([Buffer.from('0000000500000000', 'hex'), Buffer.from('cos\nsystem\n', 'latin1').subarray(0, 5)]));
    assert.match((await mallory.next())!, /^\n\(Dropped: pickle opcode GLOBAL is not allowed/);
    await mallory.expectClosed();
    assert.match(await chat.logLine(/dropping/), /^Chat server: dropping client \d+ \(mallory@127\.0\.0\.1\): pickle opcode GLOBAL is not allowed/);
    assert.equal(await alice.next(), '\n(Now hung up: Client from mallory@127.0.0.1)');
  });
});
