// The loop view without a browser: the hold, the HTTP routes and their
// checks, the event stream, and holding and stepping the real loop.

import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type HoldStatus, LoopHold } from '../src/view/hold.js';
import { formatRound, type Round, RoundRecorder } from '../src/view/trace.js';
import { createRecording, RecordingFile, recordingOf } from '../src/view/recording.js';
import { LoopView, type QueueSummary } from '../src/view/view.js';
import { ChildProgram, RawClient, startServer, startServerProgram, within } from './helpers/chat.js';
import { acceptingRound } from './helpers/rounds.js';

describe('the hold', () => {
  test('free, the loop passes; held, it waits; Step lets one round through; Resume all; release ends it', async () => {
    const hold = new LoopHold();
    await hold.enter();
    hold.leaveSelect();
    hold.pause();
    let passed = 0;
    const loop = (async () => {
      for (let round = 0; round < 5; round++) {
        await hold.enter();
        hold.leaveSelect();
        passed += 1;
      }
    })();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(passed, 0, 'held before the first round');
    hold.step();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(passed, 1, 'one step, one round');
    hold.step();
    hold.step();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(passed, 3, 'two steps, two rounds');
    hold.release();
    await loop;
    assert.equal(passed, 5, 'released for shutdown, it runs on');
  });
});

/** Sends an HTTP request to the view; resolves with the status and body. */
function fetchView(port: number, path: string, options: { method?: string; origin?: string; body?: string } = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.origin) headers.origin = options.origin;
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The event stream, as parsed events, in order. */
class EventStream {
  private readonly events: { event: string; data: unknown }[] = [];
  private waiters: (() => void)[] = [];
  private buffer = '';

  constructor(port: number, token: string) {
    request({ host: '127.0.0.1', port, path: `/events?token=${token}` }, (res) => {
      res.setEncoding('utf8').on('data', (chunk: string) => {
        this.buffer += chunk;
        for (let end = this.buffer.indexOf('\n\n'); end !== -1; end = this.buffer.indexOf('\n\n')) {
          const [eventLine, dataLine] = this.buffer.slice(0, end).split('\n');
          this.buffer = this.buffer.slice(end + 2);
          this.events.push({ event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) });
        }
        for (const waiter of this.waiters.splice(0)) waiter();
      });
    }).end();
  }

  /** Waits for the next event of this kind that matches, skipping others. */
  async next<T>(event: string, matches: (data: T) => boolean = () => true): Promise<T> {
    for (;;) {
      const at = this.events.findIndex((each) => each.event === event && matches(each.data as T));
      if (at !== -1) return this.events.splice(0, at + 1).at(-1)!.data as T;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Rounds that have arrived and not been taken. */
  get pendingRounds(): number {
    return this.events.filter((each) => each.event === 'round').length;
  }
}

describe('the loop view over a live server', () => {
  let chat: Awaited<ReturnType<typeof startServer>>;
  let view: LoopView;
  const hold = new LoopHold();
  before(async () => {
    const rounds: ((round: Round) => void)[] = [];
    chat = await startServer({
      hold,
      onRound: (round) => {
        for (const take of rounds) take(round);
      },
    });
    view = await LoopView.start({ port: 0, hold, queued: () => chat.server.queued() });
    rounds.push(view.add);
  });
  after(async () => {
    view.close();
    await chat.stop();
  });

  test('everything needs the token; commands come from the page only; the page knows where the code is', async () => {
    assert.equal((await fetchView(view.port, '/')).status, 403);
    assert.equal((await fetchView(view.port, '/?token=nope')).status, 403);
    assert.equal((await fetchView(view.port, `/events?token=${view.token}x`)).status, 403);
    const foreign = await fetchView(view.port, `/command?token=${view.token}`, { method: 'POST', origin: 'http://evil.example', body: '{"command":"pause"}' });
    assert.deepEqual(foreign, { status: 403, body: 'requests from http://evil.example are not accepted\n' });
    const bad = await fetchView(view.port, `/command?token=${view.token}`, { method: 'POST', body: '{"command":"shutdown"}' });
    assert.equal(bad.status, 400);
    assert.equal(hold.isHeld, false, 'no refused command held the loop');
    const page = await fetchView(view.port, `/?token=${view.token}`);
    assert.equal(page.status, 200);
    assert.match(page.body, /const WHERE = \{"select":\d+,"accept":\d+,/);
    assert.doesNotMatch(page.body, /"[a-zA-Z]+":0[,}]/, 'every step was found in src/room/server.ts');
  });

  test('rounds stream live; held, the loop runs no round while the queue fills; Step runs one; Resume the rest', async () => {
    const events = new EventStream(view.port, view.token);
    await events.next('hello');
    const alice = await RawClient.join(chat.port, 'alice');
    const joined = await events.next<Round>('round', (round) => round.actions.some((action) => action.includes('now alice@127.0.0.1')));
    assert.deepEqual(joined.state?.clientmap, [{ name: 'alice', address: '127.0.0.1', shape: 'str' }]);
    const bob = await RawClient.join(chat.port, 'bob');
    await alice.next();
    await events.next<Round>('round', (round) => round.actions.some((action) => action.includes('now bob@127.0.0.1')));

    assert.equal(
      (await fetchView(view.port, `/command?token=${view.token}`, { method: 'POST', origin: `http://127.0.0.1:${view.port}`, body: '{"command":"pause"}' }))
        .status,
      204,
    );
    await events.next('hold', (status: HoldStatus) => status.state === 'held');
    // The loop sleeps in select(): the line that wakes it is held there.
    alice.send('while held');
    const queued = await events.next<QueueSummary>('queue', (summary) =>
      summary.shown.some((entry) => entry.kind === 'data' && entry.source === 'alice@127.0.0.1'),
    );
    assert.ok(queued.bytes > 0 && queued.events > 0);
    assert.equal(events.pendingRounds, 0, 'no round ran while held');

    await fetchView(view.port, `/command?token=${view.token}`, { method: 'POST', body: '{"command":"step"}' });
    const stepped = await events.next<Round>('round');
    assert.deepEqual(stepped.actions, ['alice@127.0.0.1: a message, sent to bob@127.0.0.1']);
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>while held');
    bob.send('third');
    await events.next<QueueSummary>('queue', (summary) => summary.shown.some((entry) => entry.kind === 'data' && entry.source === 'bob@127.0.0.1'));
    assert.equal(events.pendingRounds, 0, 'one step, one round');

    await fetchView(view.port, `/command?token=${view.token}`, { method: 'POST', body: '{"command":"resume"}' });
    assert.equal(await within(5000, 'the line after Resume', alice.next()), '\n#[bob@127.0.0.1]>>third');
  });

  test('a held loop still shuts down', async () => {
    hold.pause();
    await chat.stop();
  });
});

describe('recording and replay', () => {
  test("a recording is its owner's only: it holds everyone's chat", {
    skip: process.platform === 'win32' && "Windows has no owner-only file mode: a recording gets its folder's permissions, as README says",
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-record-'));
    const file = join(dir, 'rounds.jsonl');
    closeSync(createRecording(file));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    rmSync(dir, { recursive: true });
  });

  test('--record writes the very rounds --trace prints; the replay serves them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-record-'));
    const file = join(dir, 'rounds.jsonl');
    const { program, port } = await startServerProgram(['--trace', '--record', file]);
    const alice = await RawClient.join(port, 'alice');
    const bob = await RawClient.join(port, 'bob');
    alice.send('recorded');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>recorded');
    program.stopByConsole();
    await program.exited;
    const traced = program.stderr.trimEnd().split('\n');
    const recorded = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Round);
    assert.deepEqual(recorded.map(formatRound), traced, 'one source of truth');
    assert.ok(
      recorded.some((round) => round.state?.clientmap.length === 2),
      'the state is recorded',
    );

    const replay = ChildProgram.start('scripts/replay.ts', [file]);
    const url = new URL(/http:\S+/.exec(await replay.line(/^Loop view \(a replay of \d+ rounds\): /))![0]);
    const served = await fetchView(Number(url.port), `/recording?token=${url.searchParams.get('token')}&from=1&count=2`);
    assert.deepEqual(JSON.parse(served.body), { total: recorded.length, from: 1, rounds: recorded.slice(1, 3) });
    replay.child.kill('SIGINT');
    await replay.exited;
    rmSync(dir, { recursive: true });
  });

  test('a round keeps 100 of its actions and counts the rest: its record is bounded, its --trace line says how many were left out', () => {
    const recorder = new RoundRecorder(String);
    const rounds: Round[] = [];
    recorder.onRound((round) => rounds.push(round));
    for (const actions of [6980, 1]) {
      recorder.selecting(['server'], []);
      recorder.selected(['server'], []);
      for (let each = 1; each <= actions; each++) recorder.took('server', `accepted connection ${each} from 127.0.0.1`);
      recorder.done();
    }
    const [flood, quiet] = rounds;
    assert.equal(flood!.actions.length, 100);
    assert.equal(flood!.actionCount, 6980);
    assert.equal(flood!.actions.at(-1), 'server: accepted connection 100 from 127.0.0.1');
    assert.ok(JSON.stringify(flood).length < 6000, `a round of 6,980 actions recorded in ${JSON.stringify(flood).length} bytes`);
    assert.match(formatRound(flood!), /; server: accepted connection 100 from 127\.0\.0\.1; and 6880 more$/);
    assert.equal(quiet!.actionCount, 1);
    assert.match(formatRound(quiet!), /\| server: accepted connection 1 from 127\.0\.0\.1$/);
  });

  test('a replay reads a window at a time: at most 500 rounds an answer, an older recording capped as it is read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-replay-'));
    const file = join(dir, 'old.jsonl');
    // A recording made before rounds were capped: round 2 holds 6,980 actions.
    writeFileSync(file, `${Array.from({ length: 1200 }, (_, at) => JSON.stringify(acceptingRound(at + 1, at === 1 ? 6980 : 1))).join('\n')}\n`);
    const recording = await RecordingFile.open(file);
    assert.equal(recording.total, 1200);
    const [first, second] = recording.read(0, 2);
    assert.equal(first!.actions.length, 1);
    assert.deepEqual([second!.actions.length, second!.actionCount], [100, 6980]);
    const view = await LoopView.start({ port: 0, recording });
    const window = JSON.parse((await fetchView(view.port, `/recording?token=${view.token}&from=1000&count=100000`)).body) as {
      total: number;
      from: number;
      rounds: Round[];
    };
    assert.deepEqual([window.total, window.from, window.rounds.length, window.rounds[0]!.round], [1200, 1000, 200, 1001]);
    const most = JSON.parse((await fetchView(view.port, `/recording?token=${view.token}&from=0&count=100000`)).body) as { rounds: Round[] };
    assert.equal(most.rounds.length, 500, 'at most 500 rounds an answer');
    view.close();
    recording.close();

    writeFileSync(file, `${JSON.stringify(acceptingRound(1))}\n{"not":"a round"}\n`);
    const replay = ChildProgram.start('scripts/replay.ts', [file]);
    assert.deepEqual(await replay.exited, { code: 1, signal: null });
    assert.equal(replay.stderr, `Cannot replay ${file}: line 2 is not a round of the loop\n`);
    rmSync(dir, { recursive: true });
  });
});

describe('scripts/server.ts --record', () => {
  /** Starts the server recording to `file`; it must refuse at once. */
  async function refused(file: string): Promise<string> {
    const program = ChildProgram.start('scripts/server.ts', ['--port', '0', '--record', file]);
    assert.deepEqual(await program.exited, { code: 1, signal: null });
    assert.deepEqual(program.output, [], 'it never listened');
    return program.stderr;
  }

  test('a file that exists, or a link, is refused in one line naming it, and nothing in it is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-record-'));
    const lastWeek = join(dir, 'last-week.jsonl');
    writeFileSync(lastWeek, 'last week\n', { mode: 0o600 });
    assert.equal(await refused(lastWeek), `Cannot record to ${lastWeek}: it exists already, and a recording never replaces a file: give a new name\n`);
    const link = join(dir, 'link.jsonl');
    symlinkSync(lastWeek, link);
    assert.equal(await refused(link), `Cannot record to ${link}: it exists already, and a recording never replaces a file: give a new name\n`);
    const dangling = join(dir, 'dangling.jsonl');
    symlinkSync(join(dir, 'not-yet.jsonl'), dangling);
    assert.equal(await refused(dangling), `Cannot record to ${dangling}: it exists already, and a recording never replaces a file: give a new name\n`);
    assert.equal(existsSync(join(dir, 'not-yet.jsonl')), false, 'no file made through the link');
    assert.equal(readFileSync(lastWeek, 'utf8'), 'last week\n');
    const nowhere = join(dir, 'no-such-folder', 'rounds.jsonl');
    assert.equal(await refused(nowhere), `Cannot record to ${nowhere}: its folder does not exist\n`);
    rmSync(dir, { recursive: true });
  });
});

describe('scripts/server.ts --view', () => {
  test('a view port in use is one line and exit code 1, before the chat server listens', async () => {
    const taken = await LoopView.start({ port: 0, recording: recordingOf([]) });
    const program = ChildProgram.start('scripts/server.ts', ['--port', '0', '--view', String(taken.port)]);
    assert.deepEqual(await program.exited, { code: 1, signal: null });
    assert.equal(program.stderr, `Cannot serve the loop view on 127.0.0.1:${taken.port}: port ${taken.port} is already in use\n`);
    assert.deepEqual(program.output, []);
    taken.close();
  });
});
