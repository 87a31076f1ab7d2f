// Bad input, load and churn: every offender is closed with a reason, and
// everyone else goes on without losing a line.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { encodePickle } from '../src/wire/pickle.js';
import { frame } from '../src/wire/wire.js';
import { ChildProgram, chatPair, PEAK_RSS_REPORTER, RawClient, ROOT, startServer, startServerProgram, stillChatting, within } from './helpers/chat.js';
import { header, rawFrame } from './helpers/frames.js';
import { SeededRandom } from './helpers/random.js';
import { NO_SIGNALS, NO_TCP_TIMERS } from './helpers/system.js';

type Server = Awaited<ReturnType<typeof startServer>>;

/** A fresh server for each test, with Alice and Bob chatting in it. */
function withRoom(): { chat: Server; alice: RawClient; bob: RawClient } {
  const room = {} as { chat: Server; alice: RawClient; bob: RawClient };
  beforeEach(async () => {
    room.chat = await startServer();
    Object.assign(room, await chatPair(room.chat.port));
  });
  afterEach(() => room.chat.stop());
  return room;
}

describe('bad input after the handshake', () => {
  const room = withRoom();

  const cases: [string, Buffer, RegExp][] = [
    ['a length of 0xFFFFFFFF', header(0xffffffff), /^frame of 4294967295 bytes is over the limit of 1048576$/],
    ['a length one past the limit', header(1024 * 1024 + 1), /^frame of 1048577 bytes is over the limit of 1048576$/],
    ['a nonzero header tail', Buffer.concat([header(12, 0xdeadbeef), encodePickle('hi')]), /^frame header bytes 4-7 must be zero, got deadbeef$/],
    ['a zero-length payload', header(0), /^empty pickle$/],
    ['random bytes', rawFrame(new SeededRandom(7).bytes(64)), /./],
    ['GLOBAL and REDUCE (os.system)', rawFrame("cos\nsystem\n(S'touch /tmp/pwned'\ntR."), /^pickle opcode GLOBAL is not allowed/],
    ['STACK_GLOBAL', rawFrame('\x80\x04\x8c\x02os\x8c\x06system\x93.'), /^pickle opcode STACK_GLOBAL is not allowed/],
    ['BUILD', rawFrame('\x80\x02X\x01\x00\x00\x00ab.'), /^pickle opcode BUILD is not allowed/],
    ['INST', rawFrame('(ios\nsystem\n.'), /^pickle opcode INST is not allowed/],
    ['OBJ', rawFrame('(o.'), /^pickle opcode OBJ is not allowed/],
    ['NEWOBJ', rawFrame('\x80\x02\x81.'), /^pickle opcode NEWOBJ is not allowed/],
    ['PERSID', rawFrame('P0\n.'), /^pickle opcode PERSID is not allowed/],
    ['EXT1', rawFrame('\x80\x02\x82\x01.'), /^pickle opcode EXT1 is not allowed/],
    ['GET', rawFrame('Vhi\np0\ng0\n.'), /^pickle opcode GET is not allowed/],
    ['a number', rawFrame('\x80\x02K\x01.'), /^pickle opcode BININT1 is not allowed/],
    ['a list', rawFrame('\x80\x02].'), /^pickle opcode EMPTY_LIST is not allowed/],
    ['None', rawFrame('\x80\x02N.'), /^pickle opcode NONE is not allowed/],
    ['invalid UTF-8', rawFrame('\x80\x02X\x02\x00\x00\x00\xff\xfeq\x00.'), /^BINUNICODE is not valid UTF-8$/],
    ['bytes after STOP', rawFrame('\x80\x02X\x02\x00\x00\x00hiq\x00.\x00'), /^1 bytes after STOP$/],
    ['an inner length running past the frame', rawFrame('\x80\x02X\x00\x01\x00\x00hi.'), /^BINUNICODE data runs past the end of the pickle$/],
    ['deep MARK nesting', rawFrame('('.repeat(100_000)), /^pickle nests too deeply$/],
  ];
  for (const [name, bytes, reason] of cases) {
    test(name, async () => {
      const { chat, alice, bob } = room;
      const mallory = await RawClient.join(chat.port, 'mallory');
      await Promise.all([alice.next(), bob.next()]);
      mallory.writeRaw(bytes);
      // Told why, where it can be, before the close.
      const [, told] = /^\n\(Dropped: (.*)\)$/s.exec((await mallory.next()) ?? '') ?? [];
      await mallory.expectClosed();
      const line = await chat.logLine(/dropping/);
      const [, why] = /^Chat server: dropping client \d+ \(mallory@127\.0\.0\.1\): (.*)$/.exec(line) ?? [];
      assert.match(why ?? line, reason);
      assert.equal(told, why);
      assert.equal(await alice.next(), '\n(Now hung up: Client from mallory@127.0.0.1)');
      assert.equal(await bob.next(), '\n(Now hung up: Client from mallory@127.0.0.1)');
      await stillChatting(alice, bob, {}, `after ${name}`);
    });
  }

  test('a frame cut off by end of stream', async () => {
    const { chat, alice, bob } = room;
    const mallory = await RawClient.join(chat.port, 'mallory');
    await Promise.all([alice.next(), bob.next()]);
    mallory.socket.end(frame('never finished').subarray(0, 15));
    assert.match(await chat.logLine(/dropping/), /: frame cut off by end of stream$/);
    assert.equal(await alice.next(), '\n(Now hung up: Client from mallory@127.0.0.1)');
    assert.equal(await bob.next(), '\n(Now hung up: Client from mallory@127.0.0.1)');
    await stillChatting(alice, bob, {}, 'after a cut-off frame');
  });

  test('a frame dribbled one byte at a time over seconds is legal', async () => {
    const { chat, alice, bob } = room;
    const carol = await RawClient.join(chat.port, 'carol');
    await Promise.all([alice.next(), bob.next()]);
    const slow = frame('worth the wait');
    let sent = 0;
    const dribble = setInterval(() => carol.writeRaw(slow.subarray(sent, ++sent)), 1500 / slow.length);
    // Meanwhile the others chat undisturbed.
    await stillChatting(alice, bob, {}, 'while carol dribbles');
    assert.equal(await alice.next(), '\n#[carol@127.0.0.1]>>worth the wait');
    clearInterval(dribble);
    assert.equal(sent, slow.length);
  });
});

describe('bad input as the first frame', () => {
  const room = withRoom();

  const cases: [string, Buffer, RegExp][] = [
    ['a first frame that is not NAME:', frame('hello'), /^first message is not "NAME: <name>"$/],
    ['an empty name', frame('NAME:    '), /^empty name$/],
    ['a name of 65 characters', frame(`NAME: ${'n'.repeat(65)}`), /^name longer than 64 characters$/],
    ['a name with control characters', frame('NAME: evil\u001b[2J'), /^name contains U\+001B, which names may not hold$/],
    ['a malicious first pickle', rawFrame("cos\nsystem\n(S'id'\ntR."), /^pickle opcode GLOBAL is not allowed/],
  ];
  for (const [name, bytes, reason] of cases) {
    test(name, async () => {
      const { chat, alice, bob } = room;
      const stranger = await RawClient.connect(chat.port);
      stranger.writeRaw(bytes);
      // The log is not asked: refusals in one second share a line (see
      // 'refusals are logged at most twice a second').
      assert.match(await stranger.expectRefused(), reason);
      // Never joined, so no one is told it left.
      await stillChatting(alice, bob, {}, `after ${name}`);
    });
  }

  test('a name of exactly 64 characters, non-ASCII, is fine', async () => {
    const { chat, alice } = room;
    const name = 'é'.repeat(64);
    const carol = await RawClient.join(chat.port, name);
    assert.equal(await alice.next(), `\n(Connected: New client (3) from ${name}@127.0.0.1)`);
    carol.end();
  });

  test('a newcomer past the maximum number of clients is told the room is full; past the reserve, closed at once', async () => {
    // A room of two filled from one machine: no share per address.
    const chat = await startServer({ maxClients: 2, maxPerAddress: 0 });
    const { alice, bob } = await chatPair(chat.port);
    // Two sockets are kept for telling newcomers why (as many as the room, at most 64).
    const third = await RawClient.connect(chat.port);
    const fourth = await RawClient.connect(chat.port);
    const fifth = await RawClient.connect(chat.port);
    await fifth.expectClosed();
    assert.equal(await chat.logLine(/refused/), 'Chat server: refused a connection from 127.0.0.1 at once: 4 sockets open, the most it holds');
    // Answered in the shape the newcomer speaks: a Python client of the
    // book's second edition reads only 1-tuples.
    third.send('NAME: carol', 'tuple');
    const told = [await third.nextMessage(), await third.nextMessage()].map((message) => [message?.text, message?.shape]);
    assert.deepEqual(told, [
      ['CLIENT: 127.0.0.1', 'tuple'],
      ['\n(Refused: the room is full (2 clients))', 'tuple'],
    ]);
    await third.expectClosed();
    fourth.send('NAME: dave');
    assert.equal(await fourth.expectRefused(), 'the room is full (2 clients)');
    // A few refusals are logged whole, each.
    assert.match(await chat.logLine(/refused/), /^Chat server: refused connection \d+ from 127\.0\.0\.1: the room is full \(2 clients\)$/);
    assert.match(await chat.logLine(/refused/), /^Chat server: refused connection \d+ from 127\.0\.0\.1: the room is full \(2 clients\)$/);
    await stillChatting(alice, bob, {}, 'still two of us');
    await chat.stop();
  });
});

describe('a full room, truly told', () => {
  test('places taken by connections that have not given a name are told as such, not as people in the room', async (t) => {
    const chat = await startServer({ maxClients: 5, maxPerAddress: 0 });
    const silent: RawClient[] = [];
    t.after(() => {
      for (const client of silent) client.socket.destroy();
      return chat.stop();
    });
    const { alice, bob } = await chatPair(chat.port);
    // Three connections that say nothing: each takes a place in its handshake.
    for (let i = 0; i < 3; i++) {
      silent.push(await RawClient.connect(chat.port));
      await chat.logLine(/^Chat server: got connection /);
    }
    const newcomer = await RawClient.connect(chat.port);
    newcomer.send('NAME: carol');
    assert.equal(await newcomer.expectRefused(), 'the room is full (5 places: 2 clients, 3 connections not yet named)');
    // One of them names itself: one client more, one connection fewer.
    silent[0]!.send('NAME: dave');
    assert.equal(await silent[0]!.next(), 'CLIENT: 127.0.0.1');
    const another = await RawClient.connect(chat.port);
    another.send('NAME: erin');
    assert.equal(await another.expectRefused(), 'the room is full (5 places: 3 clients, 2 connections not yet named)');
    await stillChatting(alice, bob, { skipOthers: true }, 'a full room');
  });

  test('a room of one: "1 client", not "1 clients"', async (t) => {
    const chat = await startServer({ maxClients: 1 });
    t.after(() => chat.stop());
    await RawClient.join(chat.port, 'alice');
    const bob = await RawClient.connect(chat.port);
    bob.send('NAME: bob');
    assert.equal(await bob.expectRefused(), 'the room is full (1 client)');
  });
});

describe('fuzzing a live server', () => {
  test('10,000 random and mutated frames: the server survives and the room chats on', async () => {
    const chat = await startServer();
    const { alice, bob } = await chatPair(chat.port);
    const random = new SeededRandom(20261128);
    const valid = ['hi', 'NAME: x', '你好', '', 'x'.repeat(300)].flatMap((text) => [frame(text), frame(text, 'tuple')]);
    function fuzzFrame(): Buffer {
      if (random.below(5) === 0) return random.bytes(1 + random.below(64));
      const mutated = Buffer.from(random.pick(valid));
      for (let flips = 1 + random.below(3); flips > 0; flips--) mutated[random.below(mutated.length)] = random.below(256);
      return mutated;
    }
    const FRAMES = 10_000;
    const PER_CONNECTION = 10;
    const CONCURRENT = 16;
    let sent = 0;
    async function fuzzer(): Promise<void> {
      while (sent < FRAMES) {
        const fuzz = await RawClient.connect(chat.port);
        const frames = Array.from({ length: PER_CONNECTION }, fuzzFrame);
        sent += frames.length;
        // Half the connections fuzz their handshake too.
        fuzz.socket.end(Buffer.concat(random.below(2) === 0 ? frames : [frame('NAME: fuzz'), ...frames]));
        await fuzz.closed;
      }
    }
    // Alice and Bob drain what the fuzzers' valid lines broadcast to them.
    await Promise.all(Array.from({ length: CONCURRENT }, fuzzer));
    assert.ok(sent >= FRAMES);
    while (chat.server.clients > 2) await chat.logLine(/hung up|dropping/);
    assert.equal(chat.server.clients, 2);
    assert.equal(chat.server.clientmap.size, 2);
    // What the fuzzers managed to say is not checked, only that the room goes on.
    await drainUntil(bob, '\n#[alice@127.0.0.1]>>sentinel', () => alice.send('sentinel'));
    await chat.stop();
  });
});

/** Skips what a client was sent until the given message arrives. */
async function drainUntil(client: RawClient, expected: string, trigger: () => void): Promise<void> {
  trigger();
  for (;;) {
    const message = await client.next();
    assert.notEqual(message, undefined, `closed before ${JSON.stringify(expected)}`);
    if (message === expected) return;
  }
}

describe('load', () => {
  test('a client that stops reading is cut off; readers, even slow ones, get every line in order', async (t) => {
    const { program, port } = await startServerProgram(['--slow-client-grace', '1'], PEAK_RSS_REPORTER);
    const readers = [await RawClient.join(port, 'reader'), await RawClient.join(port, 'slow-reader')];
    const stalled = await RawClient.join(port, 'stalled');
    stalled.socket.pause();
    // The slow reader takes a chunk, then pauses a few milliseconds.
    readers[1]!.socket.on('data', () => {
      readers[1]!.socket.pause();
      setTimeout(() => readers[1]!.socket.resume(), 3);
    });
    const SENDERS = 5;
    const LINES = 4000;
    const line = (sender: number, n: number) => `${n} `.padEnd(1000, String(sender));
    const senders = [];
    for (let s = 0; s < SENDERS; s++) senders.push(await RawClient.join(port, `sender${s}`));
    for (const reader of readers) while ((await reader.next())?.includes('sender4') !== true);
    // A 20 MB burst: five senders, 4,000 lines of 1,000 bytes each.
    senders.forEach((sender, s) => {
      for (let n = 0; n < LINES; n++) sender.send(line(s, n));
    });
    await Promise.all(
      readers.map(async (reader) => {
        const next = new Array<number>(SENDERS).fill(0);
        while (next.some((n) => n < LINES)) {
          const message = (await reader.next())!;
          const match = /^\n#\[sender(\d)@127\.0\.0\.1\]>>(\d+) /.exec(message);
          if (match === null) continue; // the stalled client's hang-up notice
          const s = Number(match[1]);
          assert.equal(message, `\n#[sender${s}@127.0.0.1]>>${line(s, next[s]!)}`, 'every line, in order');
          next[s]! += 1;
        }
      }),
    );
    assert.match(
      await program.line(/dropping/),
      /^Chat server: dropping client \d+ \(stalled@127\.0\.0\.1\): its waiting output did not fall below \d+ bytes in 1 s \(\d+ bytes wait\)$/,
    );
    program.stopByConsole();
    assert.deepEqual(await program.exited, { code: 0, signal: null });
    const peakMb = program.reportedPeakRssMb();
    t.diagnostic(`server peak RSS with a 20 MB burst in flight: ${peakMb} MB`);
    assert.ok(peakMb < 250, `server peak RSS ${peakMb} MB`);
  });

  test('churn: hundreds join, talk and leave at once; watchers miss nothing and see it in order', async () => {
    // Hundreds of hosts, played from one address.
    const chat = await startServer({ maxPerAddress: 0 });
    const watchers = [await RawClient.join(chat.port, 'watcher1'), await RawClient.join(chat.port, 'watcher2')];
    await watchers[0]!.next();
    const CHURNERS = 300;
    const LINES = 5;
    const churners = Array.from({ length: CHURNERS }, async (_, c) => {
      const churner = await RawClient.join(chat.port, `c${c}`);
      churner.socket.end(Buffer.concat(Array.from({ length: LINES }, (_, n) => frame(`line ${n}`))));
      await churner.closed;
    });
    await Promise.all([
      ...churners,
      ...watchers.map(async (watcher) => {
        const heard = new Map<string, number>();
        const gone = new Set<string>();
        while (gone.size < CHURNERS) {
          const message = (await watcher.next())!;
          const said = /^\n#\[(c\d+)@127\.0\.0\.1\]>>line (\d+)$/.exec(message);
          const left = /^\n\(Now hung up: Client from (c\d+)@127\.0\.0\.1\)$/.exec(message);
          if (said) {
            assert.equal(Number(said[2]), heard.get(said[1]!) ?? 0, `${said[1]}'s lines in order`);
            heard.set(said[1]!, Number(said[2]) + 1);
          } else if (left) {
            assert.equal(heard.get(left[1]!), LINES, `all of ${left[1]}'s lines came before its hang-up`);
            gone.add(left[1]!);
          } else {
            assert.match(message, /^\n\(Connected: New client \(\d+\) from (c\d+|watcher2)@127\.0\.0\.1\)$/);
          }
        }
      }),
    ]);
    assert.equal(chat.server.clients, 2);
    await chat.stop();
  });

  test('SIGINT while twenty clients send flat out: exit 0 within a second', { skip: NO_SIGNALS }, async () => {
    const { program, port } = await startServerProgram();
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => RawClient.join(port, `busy${i}`)));
    let sending = true;
    for (const client of clients) {
      const blast = () => {
        while (sending && client.socket.write(frame('flat out '.repeat(20))));
        if (sending) client.socket.once('drain', blast);
      };
      blast();
    }
    await clients[0]!.next(); // traffic is flowing
    const sent = Date.now();
    program.child.kill('SIGINT');
    const exit = await program.exited;
    const elapsedMs = Date.now() - sent;
    sending = false;
    for (const client of clients) client.socket.destroy();
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(elapsedMs < 1000, `exited after ${elapsedMs} ms`);
  });
});

describe('a fair share for every client', () => {
  test("one message per readable socket per round: a client's thousand lines at once and another's one, in the recipe's order", async (t) => {
    const served: string[][] = [];
    const chat = await startServer({ onRound: (round) => served.push(round.actions.filter((action) => action.includes(': a message, sent to'))) });
    t.after(() => chat.stop());
    const { alice, bob } = await chatPair(chat.port);
    const carol = await RawClient.join(chat.port, 'carol');
    await Promise.all([alice.next(), bob.next()]);
    // Both writes reach the kernel before the server's next look at its
    // sockets: one round finds alice and bob readable together.
    alice.writeRaw(Buffer.concat(Array.from({ length: 1000 }, (_, n) => frame(`A${n + 1}`))));
    bob.send('B1');
    const heard: string[] = [];
    while (heard.length < 1001) heard.push((await carol.next())!);
    const expected = ['A1', 'B1', ...Array.from({ length: 999 }, (_, n) => `A${n + 2}`)];
    assert.deepEqual(
      heard,
      expected.map((text) => `\n#[${text.startsWith('A') ? 'alice' : 'bob'}@127.0.0.1]>>${text}`),
    );
    assert.deepEqual(served.filter((actions) => actions.length > 0)[0], [
      'alice@127.0.0.1: a message, sent to 2 others',
      'bob@127.0.0.1: a message, sent to 2 others',
    ]);
    assert.ok(
      served.every((actions) => actions.filter((action) => action.startsWith('alice')).length <= 1),
      'no round serves two of one client',
    );
  });

  test("a client flooding one-character lines does not hold back another's line, and the room catches up", async (t) => {
    const { program, port } = await startServerProgram();
    t.after(() => program.child.kill('SIGKILL'));
    const { alice: carol, bob } = await chatPair(port);
    const mallory = await RawClient.join(port, 'mallory');
    await Promise.all([carol.next(), bob.next()]);
    // 20,000 frames: more than the server reads in one go and more than an
    // inbox holds before the server stops reading and TCP holds the rest.
    const FLOOD = 20_000;
    mallory.writeRaw(Buffer.concat(Array.from({ length: FLOOD }, (_, n) => frame(String(n % 10)))));
    bob.send('while the flood goes on');
    let position = 0;
    let bobAt = -1;
    for (let malloryLines = 0; malloryLines < FLOOD; position++) {
      const message = (await carol.next())!;
      if (message === '\n#[bob@127.0.0.1]>>while the flood goes on') bobAt = position;
      else assert.equal(message, `\n#[mallory@127.0.0.1]>>${malloryLines++ % 10}`, "mallory's lines, every one, in order");
    }
    t.diagnostic(`bob's line came after ${bobAt} of mallory's ${FLOOD} lines`);
    // Drained a round at a time, bob's line would come after thousands.
    assert.ok(bobAt >= 0 && bobAt < 100, `bob's line came after ${bobAt} of mallory's`);
    // Nothing of the flood is left to relay: bob's next line is carol's next message.
    bob.send('after the flood');
    assert.equal(await carol.next(), '\n#[bob@127.0.0.1]>>after the flood');
  });
});

describe('a fair share, within the input budget', () => {
  test('whole lines waiting for their turn are not held against their senders: past the budget, nobody is cut off', async (t) => {
    const chat = await startServer({ inputBudget: 64 * 1024 });
    t.after(() => chat.stop());
    const watcher = await RawClient.join(chat.port, 'watcher');
    const SENDERS = 4;
    const LINES = 1000;
    const senders = [];
    for (let s = 0; s < SENDERS; s++) senders.push(await RawClient.join(chat.port, `sender${s}`));
    while ((await watcher.next()) !== `\n(Connected: New client (${SENDERS + 1}) from sender${SENDERS - 1}@127.0.0.1)`);
    // About 110 KiB each, 440 KiB in all: seven times the budget, all of it whole lines.
    senders.forEach((sender, s) => {
      sender.writeRaw(Buffer.concat(Array.from({ length: LINES }, (_, n) => frame(`${n} `.padEnd(100, String(s))))));
    });
    const next = new Array<number>(SENDERS).fill(0);
    for (let heard = 0; heard < SENDERS * LINES; heard++) {
      const message = (await watcher.next())!;
      const [, s] = /^\n#\[sender(\d)@127\.0\.0\.1\]>>/.exec(message) ?? assert.fail(`unexpected ${JSON.stringify(message)}`);
      assert.equal(message, `\n#[sender${s}@127.0.0.1]>>${`${next[Number(s)]} `.padEnd(100, s)}`, 'every line, in order');
      next[Number(s)]! += 1;
    }
    assert.deepEqual(
      chat.logged.filter((line) => line.includes('dropping')),
      [],
    );
  });
});

// The wall clock is stepped by a signal, SIGUSR2, which Windows does not have.
describe('deadlines when the wall clock steps', { skip: NO_SIGNALS }, () => {
  /** The server program, with a wall clock that steps by `stepMs` on SIGUSR2
   * (test/helpers/step-wall-clock.ts); Alice and Bob in the room, a
   * stranger that has not sent its name, and half of a frame from Bob. */
  async function roomAboutToStep(stepMs: number, args: string[]) {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/helpers/step-wall-clock.ts', 'scripts/server.ts', '--port', '0', ...args], {
      cwd: ROOT,
      stdio: 'pipe',
      env: { ...process.env, WALL_CLOCK_STEP_MS: String(stepMs) },
    });
    const program = new ChildProgram(child);
    const port = Number(/\d+/.exec(await program.line(/^Server listening to port: \d+ \.\.\.$/))![0]);
    const { alice, bob } = await chatPair(port);
    const unfinished = frame('finished after the step');
    bob.writeRaw(unfinished.subarray(0, 10));
    // Bob's bytes went first: the round that accepts the stranger has them.
    const stranger = await RawClient.connect(port);
    await program.line(/got connection 3 /);
    child.kill('SIGUSR2');
    await program.errorLine(/^wall clock stepped/);
    return { program, port, alice, bob, stranger, rest: unfinished.subarray(10) };
  }

  test('an hour ahead: no deadline passes early', async (t) => {
    const { program, port, alice, bob, stranger, rest } = await roomAboutToStep(3600_000, []);
    t.after(() => program.child.kill('SIGKILL'));
    // Carol's join is a round, and every round looks at the deadlines: on
    // the wall clock, the stranger's 10 s and Bob's 30 s would be long gone.
    const carol = await RawClient.join(port, 'carol');
    stranger.send('NAME: dave');
    assert.equal(await stranger.next(), 'CLIENT: 127.0.0.1');
    bob.writeRaw(rest);
    assert.equal(await carol.next(), '\n(Connected: New client (4) from dave@127.0.0.1)');
    assert.equal(await carol.next(), '\n#[bob@127.0.0.1]>>finished after the step');
    assert.equal(await alice.next(), '\n(Connected: New client (3) from carol@127.0.0.1)');
    assert.equal(await alice.next(), '\n(Connected: New client (4) from dave@127.0.0.1)');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>finished after the step');
    assert.deepEqual(
      program.output.filter((line) => line.includes('dropping')),
      [],
    );
  });

  test('an hour back: no deadline passes late', async (t) => {
    const { program, alice, stranger } = await roomAboutToStep(-3600_000, ['--handshake-timeout', '2', '--frame-timeout', '2']);
    t.after(() => program.child.kill('SIGKILL'));
    // On the wall clock, both would wait an hour more. (The bound only turns
    // a hang into a failure.)
    const drops = await within(20_000, 'both deadlines', Promise.all([program.line(/dropping|refused/), program.line(/dropping|refused/)]));
    assert.deepEqual(drops.sort(), [
      'Chat server: dropping client 2 (bob@127.0.0.1): frame not finished within 2 s',
      'Chat server: refused connection 3 from 127.0.0.1: no handshake within 2 s',
    ]);
    assert.equal(await stranger.expectRefused(), 'no handshake within 2 s');
    assert.equal(await alice.next(), '\n(Now hung up: Client from bob@127.0.0.1)');
  });
});

describe('a peer that vanishes without a word', { skip: NO_TCP_TIMERS }, () => {
  /** The kernel's timer on the server's end of a client's connection, from
   * /proc/net/tcp (Linux): 2 is the keepalive timer, 0 none, 1 a
   * retransmission pending; `seconds` until it goes off. */
  function serverSideTimer(port: number, client: RawClient): { kind: number; seconds: number } {
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
    const [local, remote] = [`0100007F:${hex(port)}`, `0100007F:${hex(client.socket.localPort!)}`];
    for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1] !== local || fields[2] !== remote) continue;
      const [kind, when] = fields[5]!.split(':');
      // The kernel counts in hundredths of a second (USER_HZ).
      return { kind: Number.parseInt(kind!, 16), seconds: Number.parseInt(when!, 16) / 100 };
    }
    throw new Error(`no connection ${local} -> ${remote} in /proc/net/tcp`);
  }

  /** The timer once the handshake's reply has been acknowledged: a
   * retransmission timer would hide the keepalive one until then. */
  async function quietTimer(port: number, client: RawClient): Promise<{ kind: number; seconds: number }> {
    for (;;) {
      const timer = serverSideTimer(port, client);
      if (timer.kind !== 1) return timer;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  for (const [args, expected] of [
    [[], 60],
    [['--keepalive', '45'], 45],
  ] as const) {
    test(`every connection has a keepalive timer (${args.join(' ') || 'by default'}: ${expected} s of silence)`, async (t) => {
      const { program, port } = await startServerProgram([...args]);
      t.after(() => program.child.kill('SIGKILL'));
      const alice = await RawClient.join(port, 'alice');
      const stranger = await RawClient.connect(port);
      await program.line(/got connection 2 /);
      for (const client of [alice, stranger]) {
        const timer = await quietTimer(port, client);
        assert.equal(timer.kind, 2, 'the keepalive timer is armed');
        assert.ok(timer.seconds > expected - 10 && timer.seconds <= expected, `the first probe in ${timer.seconds} s`);
      }
    });
  }

  test('--keepalive 0: no keepalive timer', async (t) => {
    const { program, port } = await startServerProgram(['--keepalive', '0']);
    t.after(() => program.child.kill('SIGKILL'));
    const alice = await RawClient.join(port, 'alice');
    assert.equal((await quietTimer(port, alice)).kind, 0);
  });
});
