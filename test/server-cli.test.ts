import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { devNull, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ChildProgram, chatPair, RawClient, ROOT, startServerProgram, stillChatting } from './helpers/chat.js';
import { doesNotRun, NO_JOB_CONTROL, NO_SIGNALS } from './helpers/system.js';

/** Resolves with how long the program took to exit after `since`. */
async function exitsWithin(program: ChildProgram, since: number) {
  const { code, signal } = await program.exited;
  return { code, signal, elapsedMs: Date.now() - since };
}

describe('scripts/server.ts', () => {
  test('--help says how to use it', async () => {
    const program = ChildProgram.start('scripts/server.ts', ['--help']);
    assert.deepEqual(await program.exited, { code: 0, signal: null });
    const help = program.output.join('\n');
    for (const flag of [
      '--port',
      '--host',
      '--backlog',
      '--handshake-timeout',
      '--frame-timeout',
      '--max-frame-size',
      '--max-handshake-size',
      '--max-name-length',
      '--max-clients',
      '--input-budget',
      '--output-soft-limit',
      '--output-hard-limit',
      '--slow-client-grace',
      '--keepalive',
      '--trace',
      '--view',
      '--record',
    ]) {
      assert.ok(help.includes(flag), `--help mentions ${flag}`);
    }
  });

  test('SIGINT closes every client and exits 0 within a second', { skip: NO_SIGNALS }, async () => {
    const { program, port } = await startServerProgram();
    const alice = await RawClient.join(port, 'alice');
    const bob = await RawClient.join(port, 'bob');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
    const sent = Date.now();
    program.child.kill('SIGINT');
    await program.line(/^Shutting down server\.\.\.$/);
    await Promise.all([alice.expectClosed(), bob.expectClosed()]);
    const exit = await exitsWithin(program, sent);
    assert.deepEqual([exit.code, exit.signal], [0, null]);
    assert.ok(exit.elapsedMs < 1000, `exited after ${exit.elapsedMs} ms`);
  });

  for (const [signal, what] of [
    ['SIGTERM', 'SIGTERM'],
    ['SIGHUP', 'SIGHUP (its terminal closed)'],
  ] as const) {
    test(`${what} stops it the same way`, { skip: NO_SIGNALS }, async () => {
      const { program, port } = await startServerProgram();
      const alice = await RawClient.join(port, 'alice');
      program.child.kill(signal);
      await program.line(/^Shutting down server\.\.\.$/);
      await alice.expectClosed();
      assert.deepEqual(await program.exited, { code: 0, signal: null });
    });
  }

  test('a line typed on its console stops it', async () => {
    const { program, port } = await startServerProgram();
    const alice = await RawClient.join(port, 'alice');
    program.child.stdin.write('\n');
    await program.line(/^Shutting down server\.\.\.$/);
    await alice.expectClosed();
    assert.deepEqual(await program.exited, { code: 0, signal: null });
  });

  // With its console ended, only a signal stops it.
  test('end of input on its console does not stop it', { skip: NO_SIGNALS }, async () => {
    const { program, port } = await startServerProgram();
    program.child.stdin.end();
    // Chatting after stdin has ended shows the server is still serving.
    const alice = await RawClient.join(port, 'alice');
    const bob = await RawClient.join(port, 'bob');
    bob.send('still up');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>still up');
    program.child.kill('SIGINT');
    assert.deepEqual(await program.exited, { code: 0, signal: null });
  });

  test('a port in use is one line and exit code 1', async () => {
    const { program: first, port } = await startServerProgram();
    const second = ChildProgram.start('scripts/server.ts', ['--port', String(port)]);
    assert.deepEqual(await second.exited, { code: 1, signal: null });
    assert.equal(second.stderr, `Cannot listen on 127.0.0.1:${port}: port ${port} is already in use\n`);
    assert.deepEqual(second.output, []);
    first.stopByConsole();
    await first.exited;
  });
});

describe('scripts/server.ts under npx tsx', { skip: NO_SIGNALS || doesNotRun('npx', ['--version']) }, () => {
  test('Ctrl-C (SIGINT to the whole process group): npx ends by the signal, and the server still says goodbye to every client', async () => {
    const child = spawn('npx', ['tsx', 'scripts/server.ts', '--port', '0'], { cwd: ROOT, detached: true, stdio: 'pipe' });
    const program = new ChildProgram(child);
    const port = Number(/\d+/.exec(await program.line(/^Server listening to port: \d+ \.\.\.$/))![0]);
    const alice = await RawClient.join(port, 'alice');
    let reset = false;
    alice.socket.on('error', () => (reset = true));
    process.kill(-child.pid!, 'SIGINT');
    // npx itself dies by the signal; the shell reports 130.
    assert.deepEqual(await program.exited, { code: null, signal: 'SIGINT' });
    // The server, a process of the same group, shuts down as it should.
    await alice.expectClosed();
    assert.equal(reset, false, 'closed with an end of stream, not a reset');
    // Its stdout ends when the server process itself has ended.
    if (!child.stdout.readableEnded) await once(child.stdout, 'end');
    assert.ok(program.output.includes('Shutting down server...'), `printed ${JSON.stringify(program.output)}`);
  });
});

describe('scripts/server.ts as a background job', () => {
  // macOS has no /proc: there `ps` says whether the job is in the foreground. Asked here directly, on any system with ps.
  test('ps tells a foreground job from a background one, as macOS needs it told', { skip: NO_JOB_CONTROL }, async () => {
    const socketName = `selectchat-ps-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socketName, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-ps-'));
    const ask = (out: string) =>
      `${process.execPath} --import tsx -e "import('./scripts/foreground.ts').then((m) => m.foregroundFromPs()).then((v) => console.log('foreground ' + v))" > ${out}`;
    const answer = async (out: string) => {
      for (let tries = 0; !/^foreground /.test(readFileSafe(out)); tries++) {
        assert.ok(tries < 200, `no answer in ${out}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return readFileSafe(out).trim();
    };
    try {
      tmux('new-session', '-d', '-s', 'ps', '-x', '150', '-y', '30', '-c', ROOT, 'bash --norc --noprofile -i');
      tmux('send-keys', '-t', 'ps', ask(join(dir, 'fg')), 'Enter');
      assert.equal(await answer(join(dir, 'fg')), 'foreground true');
      tmux('send-keys', '-t', 'ps', `${ask(join(dir, 'bg'))} &`, 'Enter');
      assert.equal(await answer(join(dir, 'bg')), 'foreground false');
    } finally {
      spawnSync('tmux', ['-L', socketName, 'kill-server']);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('keeps serving while the user types at the shell, and reads its console once in the foreground', { skip: NO_JOB_CONTROL }, async () => {
    const socketName = `selectchat-bg-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socketName, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-bg-'));
    const log = join(dir, 'server.log');
    const screenShows = async (pattern: RegExp) => {
      for (let tries = 0; !pattern.test(tmux('capture-pane', '-p', '-t', 'bg')); tries++) {
        assert.ok(tries < 200, `the screen never showed ${pattern}:\n${tmux('capture-pane', '-p', '-t', 'bg')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    try {
      tmux('new-session', '-d', '-s', 'bg', '-x', '150', '-y', '30', '-c', ROOT, 'bash --norc --noprofile -i');
      tmux('send-keys', '-t', 'bg', `npx tsx scripts/server.ts --port 0 > ${log} &`, 'Enter');
      for (let tries = 0; !/listening to port: \d+/.test(readFileSafe(log)); tries++) {
        assert.ok(tries < 200, 'the server never started');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const port = Number(/listening to port: (\d+)/.exec(readFileSafe(log))![1]);
      // What the user types next is the shell's: a server that read it would be stopped (SIGTTIN).
      for (let i = 0; i < 5; i++) {
        tmux('send-keys', '-t', 'bg', `echo typed ${i}`, 'Enter');
        await screenShows(new RegExp(`^typed ${i}$`, 'm'));
      }
      tmux('send-keys', '-t', 'bg', 'jobs', 'Enter');
      await screenShows(/^\[1\]\+\s+Running\s+npx tsx/m);
      const { alice, bob } = { alice: await RawClient.join(port, 'alice'), bob: await RawClient.join(port, 'bob') };
      assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
      // In the foreground, a line on its console stops it, as --help says.
      tmux('send-keys', '-t', 'bg', 'fg', 'Enter');
      await screenShows(/^npx tsx scripts\/server\.ts/m);
      tmux('send-keys', '-t', 'bg', 'Enter');
      await Promise.all([alice.expectClosed(), bob.expectClosed()]);
      assert.match(readFileSafe(log), /Shutting down server\.\.\./);
    } finally {
      spawnSync('tmux', ['-L', socketName, 'kill-server']);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a console it cannot read (stdin write-only, as under nohup) is no console: it says so once and serves on', { skip: NO_SIGNALS }, async () => {
    // nohup gives a terminal job a write-only /dev/null for stdin: the first read fails with EBADF.
    const writeOnly = openSync(devNull, 'w');
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/server.ts', '--port', '0'], { cwd: ROOT, stdio: [writeOnly, 'pipe', 'pipe'] });
    closeSync(writeOnly);
    const program = new ChildProgram(child as unknown as ChildProcessWithoutNullStreams);
    const port = Number(/\d+/.exec(await program.line(/^Server listening to port: \d+ \.\.\.$/))![0]);
    await program.line(/^Chat server: the console cannot be read \(EBADF: bad file descriptor, read\); serving on without it$/);
    const { alice, bob } = await chatPair(port);
    await stillChatting(alice, bob, {}, 'still here');
    program.child.kill('SIGINT');
    await Promise.all([alice.expectClosed(), bob.expectClosed()]);
    assert.deepEqual(await program.exited, { code: 0, signal: null });
    assert.equal(program.stderr, '');
    assert.equal(program.output.filter((line) => line.includes('console cannot be read')).length, 1);
  });

  test('a console that fails while the host name is still being looked up is heard all the same', { skip: NO_SIGNALS }, async () => {
    // The console exists from the start; the listening socket, only once the name is found.
    const writeOnly = openSync(devNull, 'w');
    const args = ['--import', 'tsx', '--import', './test/helpers/slow-name-lookup.ts', 'scripts/server.ts', '--port', '0', '--host', 'localhost'];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: [writeOnly, 'pipe', 'pipe'] });
    closeSync(writeOnly);
    const program = new ChildProgram(child as unknown as ChildProcessWithoutNullStreams);
    await program.line(/^Server listening to port: \d+ \.\.\.$/);
    await program.line(/^Chat server: the console cannot be read \(EBADF: bad file descriptor, read\); serving on without it$/);
    program.child.kill('SIGINT');
    assert.deepEqual(await program.exited, { code: 0, signal: null });
    assert.equal(program.stderr, '');
  });

  test('SIGUSR1 opens no debugger: it is logged and ignored, and the room goes on', { skip: NO_SIGNALS }, async () => {
    const { program, port } = await startServerProgram();
    const { alice, bob } = await chatPair(port);
    program.child.kill('SIGUSR1');
    await program.line(/^Chat server: SIGUSR1 ignored \(this server opens no debugger; see README\)$/);
    await stillChatting(alice, bob, {}, 'after USR1');
    assert.doesNotMatch(program.stderr, /Debugger listening/);
    program.stopByConsole();
    await Promise.all([alice.expectClosed(), bob.expectClosed()]);
    assert.deepEqual(await program.exited, { code: 0, signal: null });
    assert.equal(program.stderr, '');
  });
});

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
