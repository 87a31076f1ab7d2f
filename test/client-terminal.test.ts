// The client in a real terminal: tmux runs it in a pseudo-terminal and shows
// us the screen as a user would see it.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { frame } from '../src/wire.js';
import { handMadeServer, ROOT, RawClient, startServer } from './helpers/chat.js';
import { HOSTILE_LINES } from './helpers/hostile-lines.js';

/** Each test is skipped, with this reason, where there is no tmux (a
 * skipped suite would report no tests at all). */
const skip = spawnSync('tmux', ['-V']).error !== undefined && 'tmux is not installed, so there is no terminal to test in';

describe('scripts/client.ts in a terminal', () => {
  const socketName = `selectchat-test-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socketName, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  let chat: Awaited<ReturnType<typeof startServer>>;
  let bob: RawClient;

  function screen(): string[] {
    return tmux('capture-pane', '-p', '-t', 'chat')
      .split('\n')
      .map((line) => line.trimEnd());
  }

  function cursor(): { x: number; y: number } {
    const [x, y] = tmux('display-message', '-p', '-t', 'chat', '#{cursor_x} #{cursor_y}').trim().split(' ').map(Number);
    return { x: x!, y: y! };
  }

  /** The screen is drawn by another process; look until it shows what is expected. */
  async function waitForScreen(what: string, matches: (lines: string[]) => boolean): Promise<string[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const lines = screen();
      if (matches(lines)) return lines;
      if (Date.now() > deadline) assert.fail(`the screen never showed ${what}:\n${lines.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  before(async () => {
    if (skip) return;
    chat = await startServer();
    bob = await RawClient.join(chat.port, 'bob');
    // The shell around the client prints its exit status when it ends.
    const command = `${process.execPath} --import tsx scripts/client.ts --name alice --port ${chat.port}; echo "exit status $?"`;
    tmux('new-session', '-d', '-s', 'chat', '-x', '100', '-y', '20', '-c', ROOT, command);
    // Keep the screen after the client exits, to read its last words.
    tmux('set-option', '-t', 'chat', 'remain-on-exit', 'on');
    assert.equal(await bob.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
  });
  after(async () => {
    if (skip) return;
    spawnSync('tmux', ['-L', socketName, 'kill-server']);
    await chat.stop();
  });

  test('shows the prompt with the address the server saw', { skip }, async () => {
    await waitForScreen('the prompt', (lines) => lines.includes('[alice@127.0.0.1]>'));
  });

  test('a message arriving mid-line is printed above the half-typed line, cursor where it was', { skip }, async () => {
    tmux('send-keys', '-t', 'chat', '-l', 'half a line');
    tmux('send-keys', '-t', 'chat', 'Left', 'Left', 'Left', 'Left');
    const prompt = '[alice@127.0.0.1]> ';
    await waitForScreen('the half-typed line', (lines) => lines.includes(`${prompt}half a line`) && cursor().x === prompt.length + 7);

    bob.send('hello from bob');
    const lines = await waitForScreen('the message', (lines) => lines.includes('#[bob@127.0.0.1]>>hello from bob'));
    const message = lines.indexOf('#[bob@127.0.0.1]>>hello from bob');
    assert.equal(lines[message + 1], `${prompt}half a line`, 'the prompt and the half line moved below the message');
    assert.deepEqual(cursor(), { x: prompt.length + 7, y: message + 1 }, 'the cursor is where it was in the line');
    assert.equal(lines.filter((line) => line.includes('half a line')).length, 1, 'the old copy of the line is gone');

    // Editing goes on where it was. Keys go one at a time, as typed: Node 20's
    // readline misplaces a chunk of several characters inserted mid-line.
    for (const key of 'new ') tmux('send-keys', '-t', 'chat', '-l', key);
    tmux('send-keys', '-t', 'chat', 'Enter');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>half a new line');
  });

  test('Ctrl-C prints " Client interrupted. " and leaves', { skip }, async () => {
    tmux('send-keys', '-t', 'chat', 'C-c');
    assert.equal(await bob.next(), '\n(Now hung up: Client from alice@127.0.0.1)');
    await waitForScreen('the goodbye', (lines) => lines.includes(' Client interrupted.'));
    await waitForScreen('the exit status', (lines) => lines.some((line) => line.startsWith('exit status')));
    assert.ok(screen().includes('exit status 0'), screen().join('\n'));
  });
});

describe('scripts/client.ts in a terminal, with a hostile server', () => {
  test('nothing the server sends changes the title, clears the screen, or poses as another line', { skip }, async () => {
    // A server made by hand that relays anything, as the Python original does.
    const server = await handMadeServer();
    const { port, accepted } = server;
    const socketName = `selectchat-hostile-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socketName, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    const screen = () =>
      tmux('capture-pane', '-p', '-t', 'chat')
        .split('\n')
        .map((line) => line.trimEnd());
    try {
      tmux(
        'new-session',
        '-d',
        '-s',
        'chat',
        '-x',
        '120',
        '-y',
        '30',
        '-c',
        ROOT,
        `${process.execPath} --import tsx scripts/client.ts --name alice --port ${port}`,
      );
      tmux('set-option', '-t', 'chat', 'remain-on-exit', 'on');
      tmux('select-pane', '-t', 'chat', '-T', 'selectchat');
      const socket = await accepted;
      socket.write(frame('CLIENT: 127.0.0.1'));
      for (const [sent] of HOSTILE_LINES) socket.write(frame(sent));
      const last = HOSTILE_LINES.at(-1)![1];
      for (let tries = 0; !screen().includes(last); tries++) {
        assert.ok(tries < 200, `the screen never showed the last line:\n${screen().join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const lines = screen();
      for (const [, shown] of HOSTILE_LINES) assert.ok(lines.includes(shown), `shows ${JSON.stringify(shown)}:\n${lines.join('\n')}`);
      assert.ok(lines.includes(`Now connected to chat server@ port ${port}`), 'the screen was not cleared');
      assert.ok(!lines.some((line) => line.startsWith('#[admin')), 'no line poses as admin');
      assert.equal(tmux('display-message', '-p', '-t', 'chat', '#{pane_title}').trim(), 'selectchat', 'the title is unchanged');
      socket.destroy();
    } finally {
      spawnSync('tmux', ['-L', socketName, 'kill-server']);
      server.close();
    }
  });
});
