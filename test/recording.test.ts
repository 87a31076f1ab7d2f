// A recording's two ends when things go wrong: a start that fails leaves
// no file behind, a full disk or a file-size limit stops the recording on
// a whole round while the chat goes on, and a last line cut short is left
// out of the replay, which says so.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RecordingFile, RecordingWriter } from '../src/view/recording.js';
import type { Round } from '../src/view/trace.js';
import { LoopView } from '../src/view/view.js';
import { ChildProgram, chatPair, ROOT, startServerProgram } from './helpers/chat.js';
import { acceptingRound } from './helpers/rounds.js';

/** Lines of a recording, each parsed: every one must be a whole round. */
function roundsIn(file: string): Round[] {
  const text = readFileSync(file, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), 'the file ends on a whole line');
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => JSON.parse(line) as Round);
}

describe('a start that fails leaves no recording behind', () => {
  test('the port in use, a bad option, the view port in use: no file; the same command, fixed, records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-record-'));
    const file = join(dir, 'class.jsonl');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as { port: number }).port;
    const takenView = await LoopView.start({ port: 0, recording: { total: 0, read: () => [] } });
    try {
      for (const [args, said] of [
        [['--port', String(takenPort)], `Cannot listen on 127.0.0.1:${takenPort}: port ${takenPort} is already in use\n`],
        [['--port', '0', '--backlog', 'many'], '--backlog takes a whole number from 1 to 65535, not "many" (see --help)\n'],
        [
          ['--port', '0', '--view', String(takenView.port)],
          `Cannot serve the loop view on 127.0.0.1:${takenView.port}: port ${takenView.port} is already in use\n`,
        ],
      ] as const) {
        const program = ChildProgram.start('scripts/server.ts', [...args, '--record', file]);
        assert.deepEqual(await program.exited, { code: 1, signal: null });
        assert.equal(program.stderr, said);
        assert.equal(existsSync(file), false, `${args.join(' ')}: no file left to refuse the next try`);
      }
      const { program } = await startServerProgram(['--record', file]);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      program.child.kill('SIGINT');
      assert.deepEqual(await program.exited, { code: 0, signal: null });
      assert.ok(roundsIn(file).length > 0, 'the retry recorded');
    } finally {
      taken.close();
      takenView.close();
      rmSync(dir, { recursive: true });
    }
  });
});

/** Two clients chat through a server recording to `file` until it says
 * the recording stopped, and on after that; then it is stopped. Checks
 * that it said so once, in the words expected for `why`, that the chat
 * went on, and that the file holds the rounds it says, each whole, at
 * most `limit` bytes, and replays whole. */
async function chatPastTheRecording(program: ChildProgram, file: string, why: string, limit: number): Promise<void> {
  const port = Number(/\d+/.exec(await program.line(/^Server listening to port: \d+ \.\.\.$/))![0]);
  let told: string | undefined;
  void program.line(/^Chat server: stopped recording/).then((line) => {
    told = line;
  });
  const { alice, bob } = await chatPair(port);
  for (let line = 0; told === undefined; line++) {
    assert.ok(line < 5000, 'the recording never reached the limit');
    alice.send(`line ${line} ${'x'.repeat(200)}`);
    await bob.next();
  }
  const escaped = `${file}: ${why}`.replace(/[.\\/()]/g, '\\$&');
  assert.match(told!, new RegExp(`^Chat server: stopped recording to ${escaped}\\. It keeps its first \\d+ rounds, each whole; the chat goes on$`));
  // The chat goes on, and the stop is said once.
  for (let line = 0; line < 20; line++) {
    bob.send(`after ${line}`);
    assert.equal(await alice.next(), `\n#[bob@127.0.0.1]>>after ${line}`);
  }
  program.child.kill('SIGINT');
  assert.deepEqual(await program.exited, { code: 0, signal: null });
  assert.equal(program.output.filter((line) => line.startsWith('Chat server: stopped recording')).length, 1);

  const kept = Number(/its first (\d+) rounds/.exec(told!)![1]);
  assert.ok(statSync(file).size <= limit);
  assert.deepEqual(
    roundsIn(file).map((each) => each.round),
    Array.from({ length: kept }, (_, at) => at + 1),
    'the first rounds, each whole',
  );
  const recording = await RecordingFile.open(file);
  assert.deepEqual([recording.total, recording.cut], [kept, undefined], 'it replays whole');
  recording.close();
}

const SERVER = [process.execPath, '--enable-source-maps', '--import', 'tsx', 'scripts/server.ts', '--port', '0'];

describe('a recording that cannot be written stops on a whole round', () => {
  test('a file-size limit (ulimit -f) hit mid-round: the server says so once, the chat goes on, the file replays whole', {
    skip: process.platform === 'win32' && 'Windows has no ulimit -f',
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-record-'));
    const file = join(dir, 'class.jsonl');
    // 64 blocks of 512 bytes: 32 KiB, some dozens of rounds. Node ignores
    // SIGXFSZ, so the write that would pass the limit fails with EFBIG.
    // Under `npm run coverage` the limit would cut the coverage file the
    // server writes at exit, which the run then cannot read: the server's
    // coverage is not counted anyway (Node passes the variable on to every
    // child, so the shell unsets it).
    const limited = 'unset NODE_V8_COVERAGE; ulimit -f 64 && exec "$0" "$@"';
    const program = new ChildProgram(spawn('sh', ['-c', limited, ...SERVER, '--record', file], { cwd: ROOT, stdio: 'pipe' }));
    try {
      await chatPastTheRecording(program, file, 'the file is as large as this system lets a file grow (EFBIG: a file-size limit, such as ulimit -f)', 64 * 512);
    } finally {
      program.child.kill('SIGKILL');
      rmSync(dir, { recursive: true });
    }
  });

  test('a real disk that fills up (a tmpfs of 64 KiB): the same, ENOSPC', { timeout: 60_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-full-disk-'));
    const mounted = process.platform === 'linux' && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).status === 0;
    if (!mounted) {
      rmSync(dir, { recursive: true });
      t.skip('a small disk needs mount -t tmpfs (Linux, as root); /dev/full and ulimit -f above still run');
      return;
    }
    const file = join(dir, 'class.jsonl');
    const program = ChildProgram.start('scripts/server.ts', ['--port', '0', '--record', file]);
    try {
      await chatPastTheRecording(program, file, 'the disk is full (ENOSPC)', 64 * 1024);
    } finally {
      program.child.kill('SIGKILL');
      await program.exited;
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true });
    }
  });

  test('a full disk (/dev/full) that cannot be cut back: said once, with both reasons', {
    skip: !existsSync('/dev/full') && "no /dev/full here (it is Linux's)",
  }, async () => {
    const told: string[] = [];
    const writer = new RecordingWriter('/dev/full', openSync('/dev/full', 'w'), (line) => told.push(line));
    writer.add(acceptingRound(1));
    writer.add(acceptingRound(2));
    await writer.flushed(5000);
    writer.add(acceptingRound(3));
    await writer.flushed(5000);
    assert.deepEqual(told, [
      'Chat server: stopped recording to /dev/full: the disk is full (ENOSPC). It keeps no round; it could not be cut back to its last whole round (EINVAL), so its last line may be cut short, which the replay leaves out; the chat goes on',
    ]);
  });

  test('a disk that does not keep up: past the rounds kept waiting, the recording stops, on a whole round', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-record-'));
    const file = join(dir, 'class.jsonl');
    const told: string[] = [];
    const bytes = JSON.stringify(acceptingRound(1)).length + 1;
    // Room for two rounds waiting while the first is written.
    const writer = new RecordingWriter(file, openSync(file, 'wx'), (line) => told.push(line), 2 * bytes + 1);
    for (let number = 1; number <= 5; number++) writer.add(acceptingRound(number));
    await writer.flushed(5000);
    assert.deepEqual(told, [
      `Chat server: stopped recording to ${file}: the disk did not keep up (${2 * bytes} bytes of rounds were waiting to be written, the most kept). It keeps its first 1 round, each whole; the chat goes on`,
    ]);
    assert.deepEqual(
      roundsIn(file).map((each) => each.round),
      [1],
    );
    rmSync(dir, { recursive: true });
  });
});

describe('a recording whose last line was cut short', () => {
  test('a real recording cut mid-line (the server killed): every whole round replays, and the replay says the last was cut', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-record-'));
    const file = join(dir, 'class.jsonl');
    const { program, port } = await startServerProgram(['--record', file]);
    const { alice, bob } = await chatPair(port);
    alice.send('recorded');
    await bob.next();
    program.child.kill('SIGINT');
    await program.exited;
    const whole = roundsIn(file);
    const size = statSync(file).size;
    const lastLine = JSON.stringify(whole.at(-1)).length + 1;
    // Killed as it wrote the last round: 10 of its bytes never reached the file.
    truncateSync(file, size - 10);

    const recording = await RecordingFile.open(file);
    assert.equal(recording.total, whole.length - 1);
    assert.deepEqual(recording.cut, { line: whole.length, bytes: lastLine - 10 });
    assert.deepEqual(recording.read(0, whole.length), whole.slice(0, -1));
    recording.close();

    const replay = ChildProgram.start('scripts/replay.ts', [file]);
    assert.equal(
      await replay.line(/^The last line/),
      `The last line of ${file} (line ${whole.length}, ${(lastLine - 10).toLocaleString('en-US')} bytes) was cut short: it is left out.`,
    );
    await replay.line(new RegExp(`^Loop view \\(a replay of ${whole.length - 1} rounds\\): `));
    replay.child.kill('SIGINT');
    await replay.exited;
    rmSync(dir, { recursive: true });
  });

  test('a bad line before the last is still an error, by its number; a last line that ends with a newline too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-replay-'));
    const file = join(dir, 'bad.jsonl');
    for (const [text, line] of [
      [`${JSON.stringify(acceptingRound(1))}\n{"round":2,"act\n${JSON.stringify(acceptingRound(3))}\n`, 2],
      [`${JSON.stringify(acceptingRound(1))}\n{"round":2,"act\n${JSON.stringify(acceptingRound(3)).slice(0, 20)}`, 2],
      [`${JSON.stringify(acceptingRound(1))}\n{"not":"a round"}\n`, 2],
    ] as const) {
      writeFileSync(file, text);
      await assert.rejects(RecordingFile.open(file), { message: `Cannot replay ${file}: line ${line} is not a round of the loop` });
    }
    rmSync(dir, { recursive: true });
  });
});
