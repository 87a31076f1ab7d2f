// The server against peers that mean harm: resets at every moment, memory
// held by unnamed and named connections, a congested client used as a door, a log
// output that stalls or goes away, signals. The server runs as a child
// process wherever the harm would end or freeze a process.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { WHOLE_LINES_PER_SECOND } from '../src/room/log.js';
import { stopReadingNow } from '../src/room/streams.js';
import { frame } from '../src/wire/wire.js';
import { chatPair, type ChildProgram, PEAK_RSS_REPORTER, RawClient, startServer, startServerProgram, stillChatting, within, ROOT } from './helpers/chat.js';
import { BOTH_LOOPBACKS, noTwoLoopbacks, OTHER_LOOPBACK } from './helpers/addresses.js';
import { header, rawFrame } from './helpers/frames.js';
import { SeededRandom } from './helpers/random.js';
import { NO_DESCRIPTOR_LIST, NO_FIFO, NO_SIGNALS, openDescriptors } from './helpers/system.js';

const MiB = 1024 * 1024;

async function rawSocket(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Stops a server program and checks that it ends as a stopped server
 * should: by itself, exit code 0. */
async function stopsCleanly(program: ChildProgram): Promise<void> {
  assert.equal(program.child.exitCode, null, 'the server is still running');
  program.stopByConsole();
  assert.deepEqual(await program.exited, { code: 0, signal: null });
}

/** Stops a server program started with PEAK_RSS_REPORTER, as
 * stopsCleanly does, and checks the peak memory it reports. */
async function stopsCleanlyWithin(t: TestContext, program: ChildProgram, limitMb: number, what = 'server peak RSS'): Promise<void> {
  await stopsCleanly(program);
  const peakMb = program.reportedPeakRssMb();
  t.diagnostic(`${what}: ${peakMb} MB`);
  assert.ok(peakMb < limitMb, `server peak RSS ${peakMb} MB`);
}

describe('resets at every moment', () => {
  test('connections reset before, during and after the handshake, mid-frame and mid-broadcast: the server lives on', async () => {
    const { program, port } = await startServerProgram();
    const { alice, bob } = await chatPair(port);
    const moments: ((socket: Socket) => void)[] = [
      () => {},
      (socket) => socket.write(frame('NAME: r').subarray(0, 5)),
      (socket) => socket.write(frame('NAME: r')),
      (socket) => socket.write(Buffer.concat([frame('NAME: r'), frame('a line'), frame('cut').subarray(0, 9)])),
    ];
    for (let round = 0; round < 75; round++) {
      // Alice talks meanwhile, so resets land during broadcasts too.
      alice.send(`busy ${round}`);
      await Promise.all(
        moments.map(async (moment) => {
          const socket = await rawSocket(port);
          moment(socket);
          socket.resetAndDestroy();
        }),
      );
    }
    await stillChatting(alice, bob, { skipOthers: true }, 'after 300 resets');
    await stopsCleanly(program);
  });
});

describe('memory a peer can make the server hold', () => {
  test('unnamed connections cannot announce a large frame: the first frame is small', async (t) => {
    // Hundreds of hosts, played from one address.
    const { program, port } = await startServerProgram(['--max-handshake-size', '1024', '--max-per-address', '0'], PEAK_RSS_REPORTER);
    const { alice, bob } = await chatPair(port);
    const promise = Buffer.concat([header(MiB), Buffer.alloc(64 * 1024, 1)]);
    const strangers = await Promise.all(Array.from({ length: 400 }, () => RawClient.connect(port)));
    for (const stranger of strangers) stranger.writeRaw(promise);
    await Promise.all(strangers.map((stranger) => stranger.closed));
    assert.match(
      await program.line(/refused/),
      /^Chat server: refused connection \d+ from 127\.0\.0\.1: first frame of 1048576 bytes is over the limit of 1024$/,
    );
    await stillChatting(alice, bob, { skipOthers: true }, 'after 400 big promises');
    await stopsCleanlyWithin(t, program, 200);
  });

  test('named connections holding unfinished frames are cut off at the input budget, largest first', async (t) => {
    const { program, port } = await startServerProgram(['--input-budget', String(8 * MiB), '--max-per-address', '0'], PEAK_RSS_REPORTER);
    const { alice, bob } = await chatPair(port);
    const ATTACKERS = 150;
    const almost = Buffer.concat([header(MiB), Buffer.alloc(MiB - 1, 0x41)]);
    const attackers = [];
    for (let i = 0; i < ATTACKERS; i++) attackers.push(await RawClient.join(port, `hog${i}`));
    for (const attacker of attackers) attacker.writeRaw(almost);
    const line = await program.line(/over the input budget/);
    assert.match(
      line,
      /^Chat server: dropping client \d+ \(hog\d+@127\.0\.0\.1\): holds \d+ bytes of input while the server holds \d+, over the input budget of 8388608$/,
    );
    await stillChatting(alice, bob, { skipOthers: true }, 'while the hogs wait');
    for (const attacker of attackers) attacker.socket.destroy();
    await stopsCleanlyWithin(t, program, 200, `server peak RSS with ${ATTACKERS} MiB offered against an 8 MiB budget`);
  });

  test('a frame begun must be finished within the frame timeout, even in an idle room', async () => {
    const chat = await startServer({ frameTimeoutMs: 1000 });
    const { alice, bob } = await chatPair(chat.port);
    const mallory = await RawClient.join(chat.port, 'mallory');
    await Promise.all([alice.next(), bob.next()]);
    const started = Date.now();
    // Half a frame, then a byte now and then: slow, but never finishing in time.
    const slow = frame('x'.repeat(100));
    mallory.writeRaw(slow.subarray(0, 50));
    let sent = 50;
    const dribble = setInterval(() => mallory.writeRaw(slow.subarray(sent, ++sent)), 200);
    const line = await chat.logLine(/dropping/);
    clearInterval(dribble);
    assert.match(line, /^Chat server: dropping client \d+ \(mallory@127\.0\.0\.1\): frame not finished within 1 s$/);
    assert.ok(Date.now() - started >= 1000, 'not before its time');
    assert.equal(await alice.next(), '\n(Now hung up: Client from mallory@127.0.0.1)');
    await stillChatting(alice, bob, { skipOthers: true }, 'after the slowloris');
    await chat.stop();
  });
});

describe('a room with a congested client', () => {
  /** A server whose output soft limit one client passes as soon as it
   * stops reading, and that client, congested. */
  async function roomWithCongestedClient(args: string[], nodeArgs: string[] = []) {
    const { program, port } = await startServerProgram(['--trace', '--output-soft-limit', '65536', '--slow-client-grace', '60', ...args], nodeArgs);
    const { alice, bob } = await chatPair(port);
    const stalled = await RawClient.join(port, 'stalled');
    await Promise.all([alice.next(), bob.next()]);
    stalled.socket.pause();
    const congested = program.errorLine(/stalled@127\.0\.0\.1 congested/);
    const burst = frame('z'.repeat(60_000));
    let congestedYet = false;
    void congested.then(() => (congestedYet = true));
    while (!congestedYet) {
      alice.writeRaw(burst);
      await new Promise((resolve) => setImmediate(resolve));
      if (alice.socket.writableLength > 4 * MiB) await congested;
    }
    return { program, port, alice, bob, stalled };
  }

  test('--max-clients counts every socket, and newcomers are not read while a client is congested', { skip: NO_DESCRIPTOR_LIST }, async (t) => {
    const { program, port, stalled } = await roomWithCongestedClient(['--max-clients', '20'], PEAK_RSS_REPORTER);
    const before = openDescriptors(program.child.pid!);
    const almost = Buffer.concat([header(MiB), Buffer.alloc(MiB - 1, 0x42)]);
    const newcomers = await Promise.all(Array.from({ length: 200 }, () => rawSocket(port)));
    for (const newcomer of newcomers) newcomer.write(almost);
    // Node closes at once every newcomer past the 40 sockets it holds (the
    // room's 20 and as many kept for refusals; alice, bob and stalled hold
    // three of them); the loop hears of it once the room goes on.
    let closed = 0;
    await new Promise<void>((resolve) => {
      const counted = () => {
        if (++closed === 200 - 37) resolve();
      };
      for (const newcomer of newcomers) {
        if (newcomer.closed) counted();
        else newcomer.once('close', counted);
      }
    });
    const after = openDescriptors(program.child.pid!);
    t.diagnostic(`descriptors: ${before} with a client congested, ${after} after 200 newcomers`);
    // The room's 20 and as many kept for refusals, less the three in the room already.
    assert.ok(after - before <= 20 + 20 - 3, `${after - before} more descriptors`);
    stalled.socket.resume();
    assert.equal(await program.line(/refused/), 'Chat server: refused a connection from 127.0.0.1 at once: 40 sockets open, the most it holds');
    for (const newcomer of newcomers) newcomer.destroy();
    stalled.socket.destroy();
    await stopsCleanlyWithin(t, program, 200);
  });

  test('a newcomer is not dropped for a handshake deadline that ran while a client was congested', async () => {
    const { program, port, stalled } = await roomWithCongestedClient(['--handshake-timeout', '1']);
    const carol = await RawClient.connect(port);
    carol.send('NAME: carol');
    // Longer than the handshake timeout, with the client congested all along.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    stalled.socket.resume();
    assert.equal(await within(10_000, "carol's handshake reply", carol.next()), 'CLIENT: 127.0.0.1');
    await stopsCleanly(program);
  });
});

/** Asks for the name in use again and again, as an impostor in a loop
 * does: connect, `NAME: alice`, close at once on the refusal (with FIN, as
 * a program that exits does), again, while `attacking(attempts so far)`
 * says so. Resolves with the number of attempts, each one closed. */
async function impostor(port: number, attacking: (attempts: number) => boolean): Promise<number> {
  let attempts = 0;
  while (attacking(attempts)) {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    socket.write(frame('NAME: alice'));
    socket.resume();
    socket.once('end', () => socket.end());
    await once(socket, 'close');
    attempts += 1;
  }
  return attempts;
}

/** Reads a server's log for the lines about connections accepted and
 * refused: how many of each are told whole, how many summed up, and how
 * many lines it took. */
function connectionsLogged(lines: readonly string[]) {
  const figure = (text: string) => Number(text.replaceAll(',', ''));
  const logged = { accepted: 0, refused: 0, lines: 0 };
  for (const line of lines) {
    if (/^Chat server: got connection \d+ from \('127\.0\.0\.1', \d+\)$/.test(line)) logged.accepted += 1;
    else if (/^Chat server: refused connection \d+ from 127\.0\.0\.1: the name "alice" is in use$/.test(line)) logged.refused += 1;
    else {
      const accepted = /^Chat server: accepted ([\d,]+) more connections? in the last second; the last: got connection \d+ from \('127\.0\.0\.1', \d+\)$/.exec(
        line,
      );
      const refused =
        /^Chat server: refused ([\d,]+) more connections? in the last second \(([\d,]+) name in use\); the last: refused connection \d+ from 127\.0\.0\.1: the name "alice" is in use$/.exec(
          line,
        );
      if (accepted) logged.accepted += figure(accepted[1]!);
      else if (refused) {
        assert.equal(refused[1], refused[2], `${line}: every refusal is a name in use`);
        logged.refused += figure(refused[1]!);
      } else continue;
    }
    logged.lines += 1;
  }
  return logged;
}

function sum(numbers: number[]): number {
  return numbers.reduce((total, n) => total + n, 0);
}

describe('one host against the room', () => {
  test('a teacher fills a room of 3 from one laptop: by default this machine has no share per address, and the fourth is told the room is full', async (t) => {
    // No --max-per-address: the default, which leaves loopback alone.
    const { program, port } = await startServerProgram(['--max-clients', '3']);
    t.after(() => {
      if (program.child.exitCode === null) program.child.kill('SIGKILL');
    });
    const room = [];
    for (const name of ['alice', 'bob', 'carol']) room.push(await within(10_000, `${name}'s join`, RawClient.join(port, name)));
    const fourth = await RawClient.connect(port);
    fourth.send('NAME: dave');
    assert.equal(await within(10_000, "dave's refusal", fourth.expectRefused()), 'the room is full (3 clients)');
    for (const client of room) client.end();
    await stopsCleanly(program);
  });

  test('an explicit --max-per-address holds for this machine too: with --max-per-address 1 the second client from 127.0.0.1 is refused', async (t) => {
    const { program, port } = await startServerProgram(['--max-clients', '3', '--max-per-address', '1']);
    t.after(() => {
      if (program.child.exitCode === null) program.child.kill('SIGKILL');
    });
    const alice = await within(10_000, "alice's join", RawClient.join(port, 'alice'));
    const bob = await RawClient.connect(port);
    bob.send('NAME: bob');
    assert.equal(await within(10_000, "bob's refusal", bob.expectRefused()), 'too many connections from 127.0.0.1 (1)');
    alice.end();
    await stopsCleanly(program);
  });

  test('one address cannot take the room: past --max-per-address it is refused, and another address gets in', { skip: noTwoLoopbacks }, async (t) => {
    // On [::], 127.0.0.1 and ::1 are two hosts; an IPv4 peer is still shown as 127.0.0.1.
    const chat = await startServer({ maxClients: 50, maxPerAddress: 10, host: BOTH_LOOPBACKS });
    const silent: Socket[] = [];
    t.after(() => {
      for (const socket of silent) socket.destroy();
      return chat.stop();
    });
    const hog = await Promise.all(Array.from({ length: 10 }, (_, i) => RawClient.join(chat.port, `hog${i}`)));
    // More from the same address: one is told why; the many that say
    // nothing hold no socket for long, nor the sockets kept for refusals.
    const told = await RawClient.connect(chat.port);
    told.send('NAME: hog10');
    assert.equal(await told.expectRefused(), 'too many connections from 127.0.0.1 (10)');
    silent.push(...(await Promise.all(Array.from({ length: 120 }, () => rawSocket(chat.port)))));
    const newcomer = await within(10_000, "the other address's join", RawClient.join(chat.port, 'guest', 'str', OTHER_LOOPBACK));
    assert.match((await hog[0]!.next())!, /^\n\(Connected: New client \(\d+\) from hog\d+@127\.0\.0\.1\)$/);
    newcomer.send('hello from elsewhere');
    for (;;) {
      const heard = await hog[0]!.next();
      if (heard === '\n#[guest@::1]>>hello from elsewhere') break;
      assert.match(heard!, /^\n\(Connected: /);
    }
  });

  test('refused clients that close at once and retry in a loop do not keep newcomers out; the log sums the refusals up', {
    skip: noTwoLoopbacks,
  }, async (t) => {
    // The newcomers come from another address than the impostors' 127.0.0.1.
    const chat = await startServer({ maxClients: 20, host: BOTH_LOOPBACKS });
    const alice = await RawClient.join(chat.port, 'alice');
    let attacking = true;
    // A failure must not leave the impostors or the server running.
    t.after(() => {
      attacking = false;
      return chat.stop();
    });
    const impostors = Array.from({ length: 4 }, () => impostor(chat.port, () => attacking));
    const started = Date.now();
    // Newcomers one after another, while the impostors go on: every one gets in.
    for (let i = 0; i < 10; i++) {
      const newcomer = await within(5_000, `newcomer ${i}`, RawClient.join(chat.port, `newcomer${i}`, 'str', OTHER_LOOPBACK));
      newcomer.end();
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    attacking = false;
    const attempts = sum(await Promise.all(impostors));
    const seconds = (Date.now() - started) / 1000;
    await chat.logLine(/^Chat server: refused [\d,]+ more connections/);
    const refusalLines = chat.logged.filter((line) => line.includes('refused'));
    t.diagnostic(`${attempts} refusals in ${seconds.toFixed(1)} s, ${refusalLines.length} log lines; 10 of 10 newcomers in`);
    assert.ok(attempts > 200, `only ${attempts} attempts`);
    // A few whole lines, then one summary, a second.
    assert.ok(
      refusalLines.length <= (WHOLE_LINES_PER_SECOND + 1) * (Math.ceil(seconds) + 1),
      `${refusalLines.length} refusal lines for ${attempts} refusals in ${seconds} s`,
    );
    assert.match(refusalLines[0]!, /^Chat server: refused connection \d+ from 127\.0\.0\.1: the name "alice" is in use$/);
    alice.end();
  });

  test('a refused newcomer that sent more than its name still gets the notice: the server ends with FIN, not a reset', async () => {
    const chat = await startServer();
    const stranger = await RawClient.connect(chat.port);
    // Not read for a while: a reset would throw away what waits unread.
    stranger.socket.pause();
    stranger.writeRaw(Buffer.concat([frame('NAME: bad\u202Ename'), frame('x'.repeat(100_000)), frame('more')]));
    await chat.logLine(/refused/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    stranger.socket.resume();
    assert.equal(await stranger.expectRefused(), 'name contains U+202E, which names may not hold');
    await chat.stop();
  });
});

describe('the log under a flood of connections', () => {
  test('a refusal storm is summed up: a few lines a second, and the whole lines and summaries add up to every connection', async (t) => {
    const { program, port } = await startServerProgram();
    let attacking = true;
    t.after(() => {
      attacking = false;
      if (program.child.exitCode === null) program.child.kill('SIGKILL');
    });
    const alice = await RawClient.join(port, 'alice');
    const started = performance.now();
    const impostors = Array.from({ length: 4 }, () => impostor(port, () => attacking && performance.now() - started < 3000));
    const attempts = sum(await Promise.all(impostors));
    const seconds = (performance.now() - started) / 1000;
    alice.socket.destroy();
    await stopsCleanly(program);
    const logged = connectionsLogged(program.output);
    t.diagnostic(
      `${attempts} refused connections in ${seconds.toFixed(1)} s (${Math.round(attempts / seconds)}/s): ${logged.lines} log lines about connections, of ${program.output.length} in all`,
    );
    assert.ok(attempts > 1000, `only ${attempts} attempts`);
    // Every connection is in the log, whole or counted; alice's too.
    assert.deepEqual({ accepted: logged.accepted, refused: logged.refused }, { accepted: attempts + 1, refused: attempts });
    // Each second: a few whole lines and one summary of each kind; one
    // more summary of each at the stop.
    const bound = 2 * (WHOLE_LINES_PER_SECOND + 1) * (Math.ceil(seconds) + 1);
    assert.ok(logged.lines <= bound, `${logged.lines} lines about ${attempts} connections in ${seconds} s, more than ${bound}`);
  });

  test('what was counted and not yet summed up is written at shutdown, before "Shutting down server..."', async (t) => {
    const { program, port } = await startServerProgram();
    t.after(() => {
      if (program.child.exitCode === null) program.child.kill('SIGKILL');
    });
    const alice = await RawClient.join(port, 'alice');
    // More than a second's whole lines, at once, and the stop right after:
    // the second is not over when the server stops.
    const attempts = 3 * WHOLE_LINES_PER_SECOND;
    await Promise.all(Array.from({ length: attempts }, () => impostor(port, (done) => done === 0)));
    alice.socket.destroy();
    await stopsCleanly(program);
    const logged = connectionsLogged(program.output);
    assert.deepEqual({ accepted: logged.accepted, refused: logged.refused }, { accepted: attempts + 1, refused: attempts });
    const stopping = program.output.indexOf('Shutting down server...');
    assert.ok(stopping > 0, 'the stop is logged');
    assert.equal(connectionsLogged(program.output.slice(stopping)).lines, 0, 'nothing about connections after the stop');
  });
});

/** Far more log lines than a pipe holds (64 KiB): 1,500 guests who join
 * and leave, a line each way (connections are summed up in the log, joins
 * and departures are not). From one address: the server must take more
 * than its share from it (--max-per-address 0). */
async function fillTheLog(port: number): Promise<void> {
  for (let batch = 0; batch < 30; batch++) {
    await Promise.all(Array.from({ length: 50 }, async (_, i) => (await RawClient.join(port, `guest${batch}-${i}`)).socket.end()));
  }
}

describe('the log output', () => {
  test('a log reader that has gone (EPIPE) does not end the server', async () => {
    const { program, port } = await startServerProgram();
    program.child.stdout.destroy();
    // Every join and departure writes a log line into the broken pipe.
    for (let i = 0; i < 20; i++) (await RawClient.join(port, `guest${i}`)).end();
    const { alice, bob } = await chatPair(port);
    await stillChatting(alice, bob, { skipOthers: true }, 'with nobody reading the log');
    await stopsCleanly(program);
  });

  test('a log reader that stops reading does not freeze the room', async () => {
    // One host plays 1,500 guests: no limit per address.
    const { program, port } = await startServerProgram(['--max-per-address', '0']);
    program.child.stdout.pause();
    await fillTheLog(port);
    const { alice, bob } = await chatPair(port);
    await stillChatting(alice, bob, { skipOthers: true }, 'with the log stalled');
    program.child.stdout.resume();
    await program.line(/ joined as bob@127\.0\.0\.1$/);
    await stopsCleanly(program);
  });
});

describe('signals', () => {
  test('a second SIGINT while the server closes ends it at once, exit code 0', { skip: NO_SIGNALS || NO_FIFO }, async (t) => {
    // The server's log goes into a FIFO. Once the server listens, the test
    // stops reading it and fills it up: every later log line waits, and the
    // server, told to stop, waits for its log for as long as nobody reads it
    // (a write to a full pipe keeps the process alive).
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-log-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const fifo = join(dir, 'log');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    const log = new Socket({ fd: openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
    t.after(() => log.destroy());
    const writeEnd = openSync(fifo, 'w');
    const server = spawn(process.execPath, ['--enable-source-maps', '--import', 'tsx', 'scripts/server.ts', '--port', '0'], {
      cwd: ROOT,
      stdio: ['pipe', writeEnd, 'inherit'],
    });
    t.after(() => server.kill('SIGKILL'));
    const exited = once(server, 'exit');
    closeSync(writeEnd);
    const listening = new Promise<string>((resolve) => {
      let said = '';
      log.setEncoding('utf8').on('data', (text: string) => {
        said += text;
        const match = /Server listening to port: (\d+)/.exec(said);
        if (match) resolve(match[1]!);
      });
    });
    const port = Number(await within(30_000, 'the server listening', listening));
    stopReadingNow(log);
    const filler = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    t.after(() => closeSync(filler));
    const kib = Buffer.alloc(1024, '.');
    for (;;) {
      try {
        writeSync(filler, kib);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw error;
      }
    }
    const alice = await RawClient.join(port, 'alice');
    const aliceClosed = once(alice.socket, 'close');
    server.kill('SIGINT');
    // The server is closing once it has closed alice's connection (two
    // signals sent at once could reach it as one).
    await within(30_000, "the server closing alice's connection after the first SIGINT", aliceClosed);
    assert.equal(server.exitCode, null, 'the server waits for its log');
    server.kill('SIGINT');
    assert.deepEqual(await within(30_000, 'the server ending on the second SIGINT', exited), [0, null]);
  });
});

describe('what the server relays', () => {
  test('a line that would be relayed larger than the frame limit is refused, and the room goes on', async () => {
    const chat = await startServer({ maxFrameSize: 1024 });
    const { alice, bob } = await chatPair(chat.port);
    alice.send('x'.repeat(1000));
    assert.match(
      await chat.logLine(/not relaying/),
      /^Chat server: not relaying a line from client \d+ \(alice@127\.0\.0\.1\): as relayed it would be a frame of 1034 bytes, over the limit of 1024$/,
    );
    // The sender is told, and stays.
    assert.equal(await alice.next(), '\n(Not relayed: as relayed it would be a frame of 1034 bytes, over the limit of 1024)');
    // A protocol-0 pickle holds text as Latin-1: 600 bytes in, 1,200 bytes of UTF-8 out.
    alice.writeRaw(rawFrame(Buffer.concat([Buffer.from('V'), Buffer.alloc(600, 0xe9), Buffer.from('\n.')])));
    assert.match(await chat.logLine(/not relaying/), /would be a frame of 1234 bytes, over the limit of 1024$/);
    assert.equal(await alice.next(), '\n(Not relayed: as relayed it would be a frame of 1234 bytes, over the limit of 1024)');
    await stillChatting(alice, bob, { skipOthers: true }, 'short enough');
    await chat.stop();
  });
});

describe('a hostile crowd', () => {
  test('hundreds of connections reset, half-close, stall, dribble and flood while two clients chat', async (t) => {
    const { program, port } = await startServerProgram(
      ['--frame-timeout', '2', '--handshake-timeout', '2', '--slow-client-grace', '1', '--input-budget', String(16 * MiB)],
      PEAK_RSS_REPORTER,
    );
    const { alice, bob } = await chatPair(port);
    const random = new SeededRandom(20261128);
    const LINES = 200;
    const behaviours: ((socket: Socket) => Promise<void> | void)[] = [
      (socket) => void socket.resetAndDestroy(),
      (socket) => void socket.end(frame('NAME: halfclose')),
      (socket) => {
        socket.write(Buffer.concat([frame('NAME: staller'), header(MiB), Buffer.alloc(random.below(MiB), 7)]));
      },
      async (socket) => {
        const bytes = frame('NAME: dribbler');
        for (const byte of bytes) {
          if (socket.destroyed) return;
          socket.write(Buffer.of(byte));
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      },
      (socket) => {
        socket.write(frame('NAME: flooder'));
        socket.pause(); // and never reads what it is sent
        for (let i = 0; i < 200; i++) socket.write(frame(`flood ${i} `.repeat(50)));
      },
      (socket) => void socket.write(random.bytes(1 + random.below(200))),
      (socket) => {
        socket.write(frame('NAME: resetter'));
        setTimeout(() => socket.resetAndDestroy(), random.below(50));
      },
    ];
    const crowd: Socket[] = [];
    let crowdDone = false;
    const attack = (async () => {
      for (let i = 0; i < 300; i++) {
        const socket = await rawSocket(port);
        crowd.push(socket);
        void random.pick(behaviours)(socket);
        if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, random.below(30)));
      }
      crowdDone = true;
    })();
    // Alice and Bob each say LINES numbered lines; each must hear all of the
    // other's, in order, whatever the crowd does.
    const hears = async (listener: RawClient, speaker: string) => {
      let next = 0;
      while (next < LINES) {
        const message = await listener.next();
        assert.notEqual(message, undefined, `${speaker}'s listener was closed`);
        const said = new RegExp(`^\\n#\\[${speaker}@127\\.0\\.0\\.1\\]>>line (\\d+)$`).exec(message!);
        if (said === null) continue; // the crowd's lines and notices
        assert.equal(Number(said[1]), next, `${speaker}'s lines in order`);
        next += 1;
      }
    };
    const listening = Promise.all([hears(bob, 'alice'), hears(alice, 'bob')]);
    for (let n = 0; n < LINES; n++) {
      alice.send(`line ${n}`);
      bob.send(`line ${n}`);
      if (n % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await within(30_000, 'every line of the chat', listening);
    await attack;
    assert.ok(crowdDone);
    await stillChatting(alice, bob, { skipOthers: true }, 'after the crowd');
    for (const socket of crowd) socket.destroy();
    await stopsCleanlyWithin(t, program, 250);
  });
});
