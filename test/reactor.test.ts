import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { type Connection, Console, Listener, Reactor, SelectError } from '../src/recipe/select.js';
import { RoomReactor } from '../src/room/reactor.js';
import type { RoomConnection } from '../src/room/sources.js';
import { FrameDecoder, frame } from '../src/wire/wire.js';
import { readRepositoryFile } from './helpers/repository.js';

// The reactor alone, with no chat: a listener, a connection, a console.
// The readiness tests run on the core (src/recipe/select.ts) alone, and on
// the room's reactor (src/room/reactor.ts), the core with its layers.

/** A reactor of one kind, and how it watches a server and a console. */
interface Kind {
  reactor: Reactor;
  listen(server: Server): Listener;
  console(input: PassThrough): Console;
}

const KINDS: [string, () => Kind][] = [
  [
    'the core alone',
    () => {
      const reactor = new Reactor();
      return {
        reactor,
        listen: (server) => new Listener(reactor, server),
        console: (input) => new Console(reactor, createInterface({ input, terminal: false })),
      };
    },
  ],
  [
    "the room's reactor",
    () => {
      const reactor = new RoomReactor({ makeInbox: () => new FrameDecoder() });
      return { reactor, listen: (server) => reactor.listen(server), console: (input) => reactor.console(createInterface({ input, terminal: false })) };
    },
  ],
];

for (const [kindName, makeKind] of KINDS) {
  describe(`readiness, on ${kindName}`, () => {
    let kind: Kind;
    let reactor: Reactor;
    let server: Server;
    let listener: Listener;
    let peer: Socket;
    let port: number;

    beforeEach(async () => {
      kind = makeKind();
      reactor = kind.reactor;
      server = createServer();
      listener = kind.listen(server);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as { port: number }).port;
    });
    afterEach(() => {
      peer?.destroy();
      server.close();
    });

    /** A peer connects; the loop accepts it. */
    async function acceptPeer(): Promise<Connection> {
      peer = connect({ port, host: '127.0.0.1' });
      const [readable] = await reactor.select([listener], []);
      assert.deepEqual(readable, [listener]);
      return listener.accept();
    }

    test('a listener is readable when a connection waits, and not after it is accepted', async () => {
      const connection = await acceptPeer();
      assert.equal(connection.socket.remoteAddress, '127.0.0.1');
      assert.equal(listener.readable, false);
      const [readable] = await reactor.select([listener], [], 50);
      assert.deepEqual(readable, []);
    });

    test('a connection with half a frame is not readable; with the rest it is', async () => {
      const connection = await acceptPeer();
      const whole = frame('hello');
      peer.write(whole.subarray(0, 5));
      // A select that kept returning here would be a busy loop: it must sleep
      // the whole timeout instead.
      const [early] = await reactor.select([connection], [], 100);
      assert.deepEqual(early, []);
      peer.write(whole.subarray(5));
      const [readable] = await reactor.select([connection], []);
      assert.deepEqual(readable, [connection]);
      assert.deepEqual(connection.inbox.next(), whole.subarray(8));
    });

    test('a connection holding two whole frames stays readable after one is taken, and not after both', async () => {
      const connection = await acceptPeer();
      peer.write(Buffer.concat([frame('one'), frame('two'), frame('three').subarray(0, 9)]));
      const whole = async () => {
        for (;;) {
          const [readable] = await reactor.select([connection], []);
          assert.deepEqual(readable, [connection]);
          if (connection.inbox.bufferedBytes === frame('one').length + frame('two').length + 9) return;
        }
      };
      await whole();
      connection.inbox.next();
      // As the kernel keeps reporting a socket while data remains.
      const [again] = await reactor.select([connection], [], 0);
      assert.deepEqual(again, [connection]);
      connection.inbox.next();
      // Part of the third frame only: not readable, as recv() would still wait.
      const [none] = await reactor.select([connection], [], 0);
      assert.deepEqual(none, []);
    });

    test('end of stream and errors make a connection readable', async () => {
      const connection = await acceptPeer();
      peer.end();
      const [readable] = await reactor.select([connection], []);
      assert.deepEqual(readable, [connection]);
      assert.equal(connection.ended, true);
    });

    test('select returns at once when something is already queued', async () => {
      const connection = await acceptPeer();
      peer.write(frame('one'));
      await reactor.select([connection], []);
      // The frame is still there: select reports it again, without waiting for
      // any new event (the 10-second timeout would fail the test).
      const started = Date.now();
      const [readable] = await reactor.select([connection], [], 10_000);
      assert.deepEqual(readable, [connection]);
      assert.ok(Date.now() - started < 5_000);
    });

    test('a console is readable when a line waits, and for good at end of input', async () => {
      const input = new PassThrough();
      const stdin = kind.console(input);
      input.write('quit\n');
      assert.deepEqual((await reactor.select([stdin], []))[0], [stdin]);
      assert.equal(stdin.readLine(), 'quit');
      input.end();
      assert.deepEqual((await reactor.select([stdin], []))[0], [stdin]);
      assert.equal(stdin.readLine(), null);
      assert.deepEqual((await reactor.select([stdin], [], 10))[0], [stdin]);
    });

    test('a connection is writable only after output it could not send has drained', async () => {
      const connection = await acceptPeer();
      // Idle and able to take output, but with nothing waiting: not writable.
      // (The original passed every client as an output and spun on this.)
      assert.deepEqual((await reactor.select([], [connection], 50))[1], []);
      peer.pause();
      while (connection.socket.writableLength === 0) {
        connection.write(Buffer.alloc(1024 * 1024));
        await reactor.select([], [connection], 0);
      }
      assert.deepEqual((await reactor.select([], [connection], 50))[1], [], 'still congested');
      peer.resume();
      const [, writable] = await reactor.select([], [connection]);
      assert.deepEqual(writable, [connection]);
    });

    test('interrupt() ends a sleeping select with SelectError', async () => {
      const pending = reactor.select([listener], []);
      setTimeout(() => reactor.interrupt(), 10);
      // Python 2's select() raises select.error when a signal interrupts it.
      await assert.rejects(pending, SelectError);
    });

    test('an idle select uses no CPU while it waits', async () => {
      const connection = await acceptPeer();
      const before = process.cpuUsage();
      await reactor.select([listener, connection], [connection], 500);
      const used = process.cpuUsage(before);
      const cpuMs = (used.user + used.system) / 1000;
      // A loop that polled would burn close to the whole 500 ms.
      assert.ok(cpuMs < 100, `used ${cpuMs} ms of CPU while idle`);
    });
  });
}

describe("the room's reactor: what its layers add", () => {
  let reactor: RoomReactor;
  let server: Server;
  let listener: ReturnType<RoomReactor['listen']>;
  let peer: Socket;
  let port: number;

  beforeEach(async () => {
    reactor = new RoomReactor({ makeInbox: () => new FrameDecoder() });
    server = createServer();
    listener = reactor.listen(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  afterEach(() => {
    peer?.destroy();
    server.close();
  });

  async function acceptPeer(): Promise<RoomConnection> {
    peer = connect({ port, host: '127.0.0.1' });
    const [readable] = await reactor.select([listener], []);
    assert.deepEqual(readable, [listener]);
    return listener.accept();
  }

  test('connections that arrive together are accepted in one round', async () => {
    // Node hands over one connection per turn of its loop; select() gathers
    // them as accept() in a loop would take the whole backlog.
    const peers = Array.from({ length: 50 }, () => connect({ port, host: '127.0.0.1' }));
    await Promise.all(peers.map((socket) => once(socket, 'connect')));
    const [readable] = await reactor.select([listener], []);
    assert.deepEqual(readable, [listener]);
    assert.equal(listener.waiting.length, 50);
    for (const socket of peers) socket.destroy();
  });

  test('writes made in one round leave in one socket write, in order', async () => {
    const connection = await acceptPeer();
    // The round's frames are joined into one buffer: one _write(), one
    // system call.
    const calls: string[] = [];
    type Write = (...args: unknown[]) => void;
    const socket = connection.socket as unknown as { _write: Write; _writev: Write };
    const write = socket._write.bind(socket);
    const writev = socket._writev.bind(socket);
    socket._write = (...args: unknown[]) => {
      calls.push('write');
      write(...args);
    };
    socket._writev = (chunks: unknown, ...rest: unknown[]) => {
      calls.push(`writev of ${(chunks as unknown[]).length}`);
      writev(chunks, ...rest);
    };
    connection.write(frame('a'));
    connection.write(frame('b'));
    connection.write(frame('c'));
    const received = new FrameDecoder();
    peer.on('data', (chunk: Buffer) => received.push(chunk));
    await reactor.select([], [], 0);
    assert.deepEqual(calls, ['write']);
    const texts: string[] = [];
    while (texts.length < 3) {
      const payload = received.next();
      if (payload === undefined) await once(peer, 'data');
      else texts.push(payload.toString('latin1').at(-4)!);
    }
    assert.deepEqual(texts, ['a', 'b', 'c']);
  });

  test('connections written the same in a round are handed one shared buffer; the others their own bytes', async (t) => {
    const peers: Socket[] = [];
    t.after(() => {
      for (const each of peers) each.destroy();
    });
    const connections: RoomConnection[] = [];
    for (let i = 0; i < 4; i++) {
      connections.push(await acceptPeer());
      peers.push(peer);
    }
    const handed = new Map<RoomConnection, Buffer>();
    for (const connection of connections) {
      const write = connection.socket.write.bind(connection.socket) as (data: Buffer) => boolean;
      connection.socket.write = ((data: Buffer) => {
        handed.set(connection, data);
        return write(data);
      }) as typeof connection.socket.write;
    }
    const [a, b, c, d] = connections as [RoomConnection, RoomConnection, RoomConnection, RoomConnection];
    const [x, y, z] = [frame('x'), frame('y'), frame('z')];
    // Written in the order a broadcast and a reply interleave: a, b and c
    // get x then y (b's y after d's own z); d gets z alone.
    for (const connection of [a, b, c]) connection.write(x);
    d.write(z);
    a.write(y);
    c.write(y);
    b.write(z);
    b.write(y);
    await reactor.select([], [], 0);
    assert.equal(handed.get(a), handed.get(c), 'a and c were written the same: one buffer');
    assert.deepEqual(handed.get(a), Buffer.concat([x, y]));
    assert.deepEqual(handed.get(b), Buffer.concat([x, z, y]));
    assert.deepEqual(handed.get(d), z);
    // The next round starts afresh: the same frame alone, not after last round's.
    a.write(y);
    b.write(y);
    await reactor.select([], [], 0);
    assert.deepEqual(handed.get(a), y);
    assert.equal(handed.get(b), handed.get(a));
  });

  test('Node reads exactly the connections select() watches, when one of them gives its place in a list as long to another source, and when it is watched again', async (t) => {
    const peers: Socket[] = [];
    const second = createServer();
    t.after(() => {
      for (const each of peers) each.destroy();
      second.close();
    });
    const a = await acceptPeer();
    peers.push(peer);
    const b = await acceptPeer();
    peers.push(peer);
    const otherListener = reactor.listen(second);
    // Whether Node reads it, at the handle, where the reactor stops and starts it (src/room/streams.ts).
    const isRead = (connection: RoomConnection) => {
      const atHandle = (connection.socket as unknown as { _handle: { reading: boolean } })._handle.reading;
      assert.equal(connection.reading, atHandle);
      return atHandle;
    };
    await reactor.select([listener, a, b], [], 0);
    assert.deepEqual([isRead(a), isRead(b)], [true, true]);
    await reactor.select([listener, a, otherListener], [], 0);
    assert.deepEqual([isRead(a), isRead(b)], [true, false], 'b is no longer watched');
    await reactor.select([listener, a, b], [], 0);
    assert.deepEqual([isRead(a), isRead(b)], [true, true], 'b is watched again');
    peer.write(frame('from b'));
    assert.deepEqual((await reactor.select([listener, a, b], [], 5_000))[0], [b]);
  });

  test('a socket no longer read for a full inbox is read again once the loop has caught up', async () => {
    reactor = new RoomReactor({ makeInbox: () => new FrameDecoder(), inboxHighWater: 1024 });
    listener = reactor.listen(server);
    const connection = await acceptPeer();
    const frames = Array.from({ length: 3000 }, (_, i) => frame(`frame ${i}`.padEnd(100, '.')));
    peer.write(Buffer.concat(frames));
    let taken = 0;
    while (taken < frames.length) {
      // Nothing else happens: if reading the socket did not start again, this
      // select would wait out its timeout with nothing ready.
      const [readable] = await reactor.select([connection], [], 5_000);
      assert.deepEqual(readable, [connection], `stalled after ${taken} frames`);
      while (connection.inbox.next() !== undefined) taken += 1;
    }
    assert.equal(taken, frames.length);
  });
});

describe("the reactor's files", () => {
  const read = (file: string) => readRepositoryFile(`src/${file}`);

  test('the core, src/recipe/select.ts, is at most 250 lines, names nothing of chat, and begins with select()', () => {
    const core = read('recipe/select.ts');
    const lines = core.split('\n');
    assert.ok(lines.length <= 250, `select.ts has ${lines.length} lines`);
    const chat = lines.flatMap((line, at) =>
      // Paths aside (the core says where its layers and its inbox live): the wire's frames are its inbox's business.
      /\b(chat|pickles?|broadcasts?|clients?|messages?|names?|rooms?)\b/i.test(line.replace(/src\/[\w/.-]+/g, '')) ? [`${at + 1}: ${line.trim()}`] : [],
    );
    assert.deepEqual(chat, []);
    const selectAt = lines.findIndex((line) => line.includes('async select<'));
    assert.ok(selectAt !== -1 && selectAt < 80, `select() starts at line ${selectAt + 1}`);
  });

  test('what a real server adds says at its top that a first read may skip it', () => {
    for (const file of ['room/flow.ts', 'room/outbox.ts', 'room/gather.ts', 'room/alarm.ts']) {
      const firstComment = read(file)
        .split('\n\n')[0]!
        .replace(/\n\/\/ /g, ' ');
      assert.match(firstComment, /A first read may skip this file/, file);
    }
  });
});
