// Pause, Step and Resume against the real loop: the hold lives where the
// loop waits, so a loop held while asleep serves nothing, and a Step is
// exactly one round. And what a held loop costs: input piling up one byte
// at a time stays within the input budget.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LoopHold } from '../src/view/hold.js';
import { CHUNK_OVERHEAD } from '../src/room/flow.js';
import type { Round } from '../src/view/trace.js';
import { acceptedIn, ChildProgram, chatPair, PEAK_RSS_REPORTER, RawClient, startServer, within } from './helpers/chat.js';
import { NO_SIGNALS } from './helpers/system.js';
import { frame } from '../src/wire/wire.js';

/** Resolves once `ready()` is true, looking after every few milliseconds:
 * for a state the test cannot be told about by an event. */
async function until(what: string, ready: () => boolean): Promise<void> {
  await within(
    10_000,
    what,
    (async () => {
      while (!ready()) await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
  );
}

describe('the hold against the real loop', () => {
  const hold = new LoopHold();
  const rounds: Round[] = [];
  let chat: Awaited<ReturnType<typeof startServer>>;
  let alice: RawClient;
  let bob: RawClient;
  const waitingFromBob = () => chat.server.queued().some((entry) => entry.kind === 'data' && entry.source === 'bob@127.0.0.1');
  const waitingFromAlice = () => chat.server.queued().some((entry) => entry.kind === 'data' && entry.source === 'alice@127.0.0.1');

  before(async () => {
    chat = await startServer({ hold, onRound: (round) => rounds.push(round) });
    ({ alice, bob } = await chatPair(chat.port));
  });
  after(async () => {
    await chat.stop();
  });

  test('Pause clicked while the loop sleeps in select() holds the round the next event starts: nothing is served', async () => {
    // Both idle: the loop sleeps in select().
    await until('the loop asleep', () => rounds.some((round) => round.actions.some((action) => action.includes('now bob@127.0.0.1'))));
    hold.pause();
    assert.deepEqual(hold.status, { state: 'held', rounds: 0 }, 'no round can run');
    const before = rounds.length;
    alice.send('while the loop slept');
    // The line wakes select(), which waits in the hold before serving it.
    await until('the loop held in select()', () => hold.holdsLoop);
    assert.ok(waitingFromAlice(), "alice's line waits in the reactor's queue");
    assert.equal(rounds.length, before, 'no round ran');
    assert.equal(bob.messages.pending.length, 0, 'bob got nothing');
    // Held a while, so that the round's record can tell held from asleep.
    await new Promise((resolve) => setTimeout(resolve, 300));

    hold.step();
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>while the loop slept');
    await until('the round recorded', () => rounds.length === before + 1);
    const round = rounds.at(-1)!;
    assert.deepEqual(round.actions, ['alice@127.0.0.1: a message, sent to bob@127.0.0.1']);
    assert.ok(round.heldMs! >= 300, `held ${round.heldMs} ms, at least the 300 ms it was held`);
    assert.ok(round.waitedMs < round.heldMs!, `asleep ${round.waitedMs} ms, counted apart from the ${round.heldMs} ms held`);
    await until('held again', () => hold.holdsLoop);
    assert.deepEqual(hold.status, { state: 'held', rounds: 0 });
  });

  test('Step with nothing queued: that round serves the next arrival only', async () => {
    const before = rounds.length;
    hold.step();
    // The stepped round sleeps in select(): nothing has arrived yet.
    assert.deepEqual(hold.status, { state: 'stepping', rounds: 1 });
    await until('the stepped round asleep', () => !hold.holdsLoop);
    alice.send('the next arrival');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>the next arrival');
    await until('held after one round', () => hold.holdsLoop);
    assert.equal(rounds.length, before + 1, 'one step, one round');
    assert.deepEqual(hold.status, { state: 'held', rounds: 0 });
    bob.send('the one after');
    await until("bob's line queued", waitingFromBob);
    assert.equal(rounds.length, before + 1, 'the line after it waits');
    assert.equal(alice.messages.pending.length, 0);
  });

  test('two Steps are two rounds, then held; Resume lets the rest run', async () => {
    const before = rounds.length;
    hold.step();
    hold.step();
    // The first serves bob's queued line; the second sleeps until the next arrival.
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>the one after');
    await until('the second round asleep in select()', () => rounds.length === before + 1 && !hold.holdsLoop);
    assert.deepEqual(hold.status, { state: 'stepping', rounds: 1 });
    alice.send('second round');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>second round');
    await until('held after two rounds', () => hold.holdsLoop);
    assert.equal(rounds.length, before + 2, 'two steps, two rounds');
    alice.send('third, held');
    await until("alice's line queued", waitingFromAlice);
    assert.equal(rounds.length, before + 2);

    hold.resume();
    assert.deepEqual(hold.status, { state: 'running', rounds: 0 });
    assert.equal(await within(5000, 'the line after Resume', bob.next()), '\n#[alice@127.0.0.1]>>third, held');
    bob.send('running');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>running');
  });

  test('Step and Pause on a loop that runs change nothing; a held loop still shuts down', async () => {
    hold.step();
    assert.deepEqual(hold.status, { state: 'running', rounds: 0 });
    hold.pause();
    await chat.stop();
    assert.deepEqual(hold.status, { state: 'running', rounds: 0 }, 'released for shutdown');
  });
});

describe('a held loop steps as the recipe', () => {
  test('A1 and A2 from one client, B1 from another, all waiting: a Step delivers A1 and B1, the next Step A2', async (t) => {
    const hold = new LoopHold();
    const rounds: Round[] = [];
    const chat = await startServer({ hold, onRound: (round) => rounds.push(round) });
    t.after(() => chat.stop());
    const { alice, bob } = await chatPair(chat.port);
    const carol = await RawClient.join(chat.port, 'carol');
    await Promise.all([alice.next(), bob.next()]);
    const queuedBytes = (source: string) => chat.server.queued().find((entry) => entry.kind === 'data' && entry.source === source)?.bytes ?? 0;
    // Everyone idle: the loop sleeps in select(), and the hold takes it there.
    await until('the loop asleep', () => rounds.some((round) => round.actions.some((action) => action.includes('now carol@127.0.0.1'))));
    hold.pause();
    const [a1, a2, b1] = [frame('A1'), frame('A2'), frame('B1')];
    alice.writeRaw(Buffer.concat([a1, a2]));
    await until("alice's two lines queued", () => queuedBytes('alice@127.0.0.1') === a1.length + a2.length);
    bob.writeRaw(b1);
    await until("bob's line queued", () => queuedBytes('bob@127.0.0.1') === b1.length);
    const before = rounds.length;

    // The recipe's round: select() reports alice and bob readable, and
    // receive() takes one message from each.
    hold.step();
    assert.equal(await carol.next(), '\n#[alice@127.0.0.1]>>A1');
    assert.equal(await carol.next(), '\n#[bob@127.0.0.1]>>B1');
    await until('held after one round', () => hold.holdsLoop && rounds.length === before + 1);
    assert.deepEqual(rounds.at(-1)!.actions, ['alice@127.0.0.1: a message, sent to 2 others', 'bob@127.0.0.1: a message, sent to 2 others']);
    assert.equal(carol.messages.pending.length, 0, 'A2 waits for the next round');

    // A2 stayed in alice's inbox: select() reports her readable again.
    hold.step();
    assert.equal(await carol.next(), '\n#[alice@127.0.0.1]>>A2');
    await until('held after the second round', () => hold.holdsLoop && rounds.length === before + 2);
    assert.deepEqual(rounds.at(-1)!.actions, ['alice@127.0.0.1: a message, sent to 2 others']);
    assert.deepEqual(await Promise.all([bob.next(), bob.next()]), ['\n#[alice@127.0.0.1]>>A1', '\n#[alice@127.0.0.1]>>A2']);
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>B1');
  });
});

const budget = 1024 * 1024;

describe('input piling up one byte at a time', () => {
  test('held, one-byte chunks from strangers stop being read within the budget, counted at what each costs', async () => {
    const hold = new LoopHold();
    const chat = await startServer({ hold, inputBudget: budget });
    const strangers = await Promise.all(Array.from({ length: 40 }, () => RawClient.connect(chat.port)));
    for (const stranger of strangers) stranger.socket.setNoDelay(true);
    // Accepted, then held: the strangers' bytes are read into the queue.
    // (A flood of connections is summed up in the log a second later.)
    await until('all accepted', () => acceptedIn(chat.logged) === strangers.length);
    hold.pause();
    const chunks = () => chat.server.queued().reduce((sum, entry) => sum + (entry.kind === 'data' ? entry.count : 0), 0);
    // Three times as many one-byte chunks as the budget holds at their cost,
    // a thousandth of the budget in payload.
    const fits = Math.floor(budget / (1 + CHUNK_OVERHEAD));
    for (let turn = 0; turn < (3 * fits) / strangers.length; turn++) {
      for (const stranger of strangers) stranger.writeRaw('x');
      await new Promise((resolve) => setImmediate(resolve));
    }
    await until('reads stopped at the budget', () => chunks() >= fits);
    // Let every byte in flight arrive: one more chunk per connection at most.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(chunks() <= fits + strangers.length, `${chunks()} chunks held; the budget holds ${fits} at their cost`);
    for (const stranger of strangers) stranger.socket.destroy();
    await chat.stop();
  });

  test("running, a frame that trickles in a byte at a time is charged about its bytes: three budgets' worth of one-byte chunks, and it is relayed", async () => {
    const chat = await startServer({ inputBudget: budget, frameTimeoutMs: 600_000 });
    const { alice, bob } = await chatPair(chat.port);
    alice.socket.setNoDelay(true);
    // Charged a chunk's cost each, this many one-byte chunks would be three input budgets.
    const text = 'y'.repeat(3 * Math.floor(budget / CHUNK_OVERHEAD));
    const bytes = frame(text);
    for (let at = 0; at < bytes.length; at++) {
      alice.writeRaw(bytes.subarray(at, at + 1));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(await bob.next(), `\n#[alice@127.0.0.1]>>${text}`);
    assert.deepEqual(
      chat.logged.filter((line) => line.includes('dropping')),
      [],
    );
    await chat.stop();
  });
});

describe('the server held and flooded one byte at a time', () => {
  // Ctrl-C is a signal: the console is not read while the loop is held.
  test('its memory stays within the budget, and Ctrl-C still stops it at once', { skip: NO_SIGNALS }, async (t) => {
    const program = ChildProgram.start('scripts/server.ts', ['--port', '0', '--view', '0', '--input-budget', String(budget)], PEAK_RSS_REPORTER);
    const port = Number(/\d+/.exec(await program.line(/^Server listening to port: \d+ \.\.\.$/))![0]);
    const view = new URL((await program.line(/^Loop view: /)).slice('Loop view: '.length));
    const paused = await fetch(new URL(`/command${view.search}`, view), { method: 'POST', body: '{"command":"pause"}' });
    assert.equal(paused.status, 204);
    const strangers = await Promise.all(Array.from({ length: 200 }, () => RawClient.connect(port)));
    for (const stranger of strangers) stranger.socket.setNoDelay(true);
    const until = Date.now() + 3000;
    let written = 0;
    while (Date.now() < until) {
      for (const stranger of strangers) stranger.writeRaw('x');
      written += strangers.length;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const stoppedAt = Date.now();
    program.child.kill('SIGINT');
    assert.deepEqual(await within(5000, 'the server stopping', program.exited), { code: 0, signal: null });
    const peakMb = program.reportedPeakRssMb();
    t.diagnostic(`${written} one-byte writes from 200 strangers while held; server peak RSS ${peakMb} MB; stopped ${Date.now() - stoppedAt} ms after SIGINT`);
    assert.ok(peakMb < 200, `server peak RSS ${peakMb} MB`);
    for (const stranger of strangers) stranger.socket.destroy();
  });
});
