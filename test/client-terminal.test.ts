// The client in a real terminal: tmux runs it in a pseudo-terminal and shows
// us the screen as a user would see it.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { frame } from '../src/wire.js';
import { firstFrame, handMadeServer, ROOT, RawClient, startServer } from './helpers/chat.js';
import { HOSTILE_LINES } from './helpers/hostile-lines.js';
import { NO_TMUX } from './helpers/system.js';

/** Each test is skipped, with this reason, where there is no tmux (a
 * skipped suite would report no tests at all). */
const skip = NO_TMUX;

let sessions = 0;

/** A client in a tmux pane of a given size, on a tmux server of its own. */
class Terminal {
  private readonly socketName = `selectchat-test-${process.pid}-${++sessions}`;

  /** Starts `scripts/client.ts` with these flags; the shell around it
   * prints its exit status when it ends, and the pane stays to be read. */
  constructor(clientArgs: string[], width: number, height = 20) {
    const command = `${process.execPath} --import tsx scripts/client.ts ${clientArgs.join(' ')}; echo "exit status $?"`;
    this.tmux('new-session', '-d', '-s', 'chat', '-x', String(width), '-y', String(height), '-c', ROOT, command);
    this.tmux('set-option', '-t', 'chat', 'remain-on-exit', 'on');
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socketName, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  }

  /** Types text as one chunk, as a paste or an input method delivers it. */
  type(text: string): void {
    this.tmux('send-keys', '-t', 'chat', '-l', text);
  }

  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'chat', ...keys);
  }

  /** The rows of the screen (tmux trims the spaces at their ends). */
  screen(): string[] {
    return this.tmux('capture-pane', '-p', '-t', 'chat')
      .split('\n')
      .map((line) => line.trimEnd());
  }

  cursor(): { x: number; y: number } {
    const [x, y] = this.tmux('display-message', '-p', '-t', 'chat', '#{cursor_x} #{cursor_y}').trim().split(' ').map(Number);
    return { x: x!, y: y! };
  }

  /** The screen is drawn by another process; look until it shows what is expected. */
  async waitFor(what: string, matches: (lines: string[]) => boolean): Promise<string[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const lines = this.screen();
      if (matches(lines)) return lines;
      if (Date.now() > deadline) assert.fail(`the screen never showed ${what}:\n${lines.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socketName, 'kill-server']);
  }
}

describe('scripts/client.ts in a terminal', () => {
  let chat: Awaited<ReturnType<typeof startServer>>;
  let bob: RawClient;
  let terminal: Terminal;

  before(async () => {
    if (skip) return;
    chat = await startServer();
    bob = await RawClient.join(chat.port, 'bob');
    terminal = new Terminal(['--name', 'alice', '--port', String(chat.port)], 100);
    assert.equal(await bob.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
  });
  after(async () => {
    if (skip) return;
    terminal.kill();
    await chat.stop();
  });

  test('shows the prompt with the address the server saw', { skip }, async () => {
    await terminal.waitFor('the prompt', (lines) => lines.includes('[alice@127.0.0.1]>'));
  });

  test('a message arriving mid-line is printed above the half-typed line, cursor where it was', { skip }, async () => {
    terminal.type('half a line');
    terminal.keys('Left', 'Left', 'Left', 'Left');
    const prompt = '[alice@127.0.0.1]> ';
    await terminal.waitFor('the half-typed line', (lines) => lines.includes(`${prompt}half a line`) && terminal.cursor().x === prompt.length + 7);

    bob.send('hello from bob');
    const lines = await terminal.waitFor('the message', (lines) => lines.includes('#[bob@127.0.0.1]>>hello from bob'));
    const message = lines.indexOf('#[bob@127.0.0.1]>>hello from bob');
    assert.equal(lines[message + 1], `${prompt}half a line`, 'the prompt and the half line moved below the message');
    assert.deepEqual(terminal.cursor(), { x: prompt.length + 7, y: message + 1 }, 'the cursor is where it was in the line');
    assert.equal(lines.filter((line) => line.includes('half a line')).length, 1, 'the old copy of the line is gone');

    // Editing goes on where it was, a chunk of several characters included.
    terminal.type('new ');
    terminal.keys('Enter');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>half a new line');
  });

  test('Ctrl-C prints " Client interrupted. " and leaves', { skip }, async () => {
    terminal.keys('C-c');
    assert.equal(await bob.next(), '\n(Now hung up: Client from alice@127.0.0.1)');
    await terminal.waitFor('the goodbye', (lines) => lines.includes(' Client interrupted.'));
    await terminal.waitFor('the exit status', (lines) => lines.some((line) => line.startsWith('exit status')));
    assert.ok(terminal.screen().includes('exit status 0'), terminal.screen().join('\n'));
  });
});

describe('scripts/client.ts in a terminal: the half-typed line survives, wrapped over rows, wide or edited', () => {
  let chat: Awaited<ReturnType<typeof startServer>>;
  let bob: RawClient;

  before(async () => {
    if (skip) return;
    chat = await startServer();
    bob = await RawClient.join(chat.port, 'bob');
  });
  after(async () => {
    if (skip) return;
    await chat.stop();
  });

  /** What bob hears next from `name`, skipping the others' comings and goings. */
  async function heard(name: string): Promise<string | undefined> {
    for (;;) {
      const message = await bob.next();
      if (message === undefined || message.includes(`${name}@127.0.0.1`)) return message;
    }
  }

  /** A client named `name` in a terminal `width` columns wide, joined. */
  async function join(name: string, width: number): Promise<{ terminal: Terminal; prompt: string }> {
    const terminal = new Terminal(['--name', name, '--port', String(chat.port)], width);
    assert.match((await heard(name))!, /^\n\(Connected: New client/);
    const prompt = `[${name}@127.0.0.1]> `;
    await terminal.waitFor('the prompt', (lines) => lines.includes(prompt.trimEnd()));
    return { terminal, prompt };
  }

  /** Types `text`, moves the cursor `lefts` characters to the left, waits
   * until the screen holds it, then has two messages arrive. The rows from
   * the prompt down, and the cursor's place among them, must be exactly as
   * they were, below the two messages. Then an X typed lands at the cursor,
   * and Enter sends the line. */
  async function survives(terminal: Terminal, prompt: string, text: string, lefts: number): Promise<void> {
    terminal.type(text);
    if (lefts > 0) terminal.keys(...Array(lefts).fill('Left'));
    // Rows joined: a wide character that would straddle the end of a row
    // leaves a blank column there, which tmux trims.
    const before = await terminal.waitFor('the typed line', (lines) => lines.join('').includes(text));
    // The cursor settles once the keys are taken: look until it stops moving.
    let cursor = terminal.cursor();
    for (let again = terminal.cursor(); again.x !== cursor.x || again.y !== cursor.y; again = terminal.cursor()) {
      cursor = again;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const top = before.findIndex((line) => line.startsWith(prompt));
    const block = before.slice(top, before.findLastIndex((line) => line !== '') + 1);
    assert.ok(block.length >= 2, `the line wraps over several rows:\n${before.join('\n')}`);

    bob.send('first message');
    bob.send('second message');
    const after = await terminal.waitFor('both messages', (lines) => lines.includes('#[bob@127.0.0.1]>>second message'));
    const second = after.indexOf('#[bob@127.0.0.1]>>second message');
    assert.equal(after[second - 1], '#[bob@127.0.0.1]>>first message', after.join('\n'));
    assert.deepEqual(after.slice(second + 1, second + 1 + block.length), block, `the line redrawn as it was:\n${after.join('\n')}`);
    assert.deepEqual(
      after.slice(second + 1 + block.length).filter((line) => line !== ''),
      [],
      'nothing below it',
    );
    assert.deepEqual(terminal.cursor(), { x: cursor.x, y: cursor.y - top + second + 1 }, 'the cursor where it was in the line');
    terminal.type('X');
    terminal.keys('Enter');
    const at = text.length - lefts;
    const name = prompt.slice(1, prompt.indexOf('@'));
    assert.equal(await heard(name), `\n#[${name}@127.0.0.1]>>${text.slice(0, at)}X${text.slice(at)}`);
  }

  for (const width of [80, 40]) {
    test(`${width} columns: 100 characters typed, two messages arrive`, { skip }, async () => {
      const { terminal, prompt } = await join(`long${width}`, width);
      try {
        const text = Array.from({ length: 100 }, (_, n) => String.fromCharCode(97 + (n % 26))).join('');
        await survives(terminal, prompt, text, 0);
      } finally {
        terminal.kill();
      }
    });

    test(`${width} columns: the cursor in the middle of a wrapped line`, { skip }, async () => {
      const { terminal, prompt } = await join(`mid${width}`, width);
      try {
        const text = Array.from({ length: 100 }, (_, n) => String(n % 10)).join('');
        // 47 to the left: the cursor stands in a row before the last.
        await survives(terminal, prompt, text, 47);
      } finally {
        terminal.kill();
      }
    });
  }

  test('40 columns: wide characters, one of them where a row ends', { skip }, async () => {
    const { terminal, prompt } = await join('wide', 40);
    try {
      // The prompt and the "a" take 19 columns: the 11th character of two
      // columns would straddle the end of the first row, and goes to the
      // next one whole.
      const text = 'a漢字かな交じり文の行がここで折り返す、端末の幅を越えて続く長い行';
      await survives(terminal, prompt, text, 3);
    } finally {
      terminal.kill();
    }
  });

  test('40x24: a line taller than the screen stays whole; the message goes to the scrollback above it', { skip }, async () => {
    const terminal = new Terminal(['--name', 'tall', '--port', String(chat.port)], 40, 24);
    try {
      assert.match((await heard('tall'))!, /^\n\(Connected: New client/);
      await terminal.waitFor('the prompt', (lines) => lines.includes('[tall@127.0.0.1]>'));
      const text = Array.from({ length: 1200 }, (_, n) => String.fromCharCode(97 + (n % 26))).join('');
      terminal.type(text);
      await terminal.waitFor('the end of the line', (lines) => lines.join('').endsWith(text.slice(-100)));
      bob.send('above the screen');
      const withScrollback = () => terminal.tmux('capture-pane', '-p', '-t', 'chat', '-S', '-100').split('\n');
      const deadline = Date.now() + 10_000;
      while (!withScrollback().includes('#[bob@127.0.0.1]>>above the screen')) {
        assert.ok(Date.now() < deadline, withScrollback().join('\n'));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const rows = withScrollback();
      const message = rows.indexOf('#[bob@127.0.0.1]>>above the screen');
      assert.ok(!terminal.screen().includes(rows[message]!), 'the message is not on the screen');
      assert.equal(rows.slice(message + 1).join(''), `[tall@127.0.0.1]> ${text}`, 'the whole line below it');
      terminal.keys('Enter');
      assert.equal(await heard('tall'), `\n#[tall@127.0.0.1]>>${text}`);
    } finally {
      terminal.kill();
    }
  });

  test('a paste into the middle of the line arrives as pasted (Node 20 included)', { skip }, async () => {
    const { terminal } = await join('paste', 80);
    try {
      terminal.type('hello world');
      terminal.keys(...Array(5).fill('Left'));
      await terminal.waitFor('the line', (lines) => lines.some((line) => line.endsWith('hello world')));
      terminal.type('big ');
      terminal.keys('Enter');
      assert.equal(await heard('paste'), '\n#[paste@127.0.0.1]>>hello big world');
    } finally {
      terminal.kill();
    }
  });
});

describe('scripts/client.ts in a terminal, when the server goes', () => {
  test('a reset after the server has read the line typed: "Client shutting down.", exit 0, no loss claimed', { skip }, async () => {
    const server = await handMadeServer();
    const terminal = new Terminal(['--name', 'alice', '--port', String(server.port)], 80);
    try {
      const socket = await server.accepted;
      await firstFrame(socket);
      socket.write(frame('CLIENT: 127.0.0.1'));
      await terminal.waitFor('the prompt', (lines) => lines.includes('[alice@127.0.0.1]>'));
      terminal.type('hello');
      terminal.keys('Enter');
      assert.match((await firstFrame(socket)).toString('latin1'), /hello/);
      socket.resetAndDestroy();
      const lines = await terminal.waitFor('the exit status', (lines) => lines.some((line) => line.startsWith('exit status')));
      assert.ok(lines.includes('Client shutting down.'), lines.join('\n'));
      assert.ok(lines.includes('exit status 0'), lines.join('\n'));
      assert.ok(!lines.some((line) => line.startsWith('Why:')), lines.join('\n'));
    } finally {
      terminal.kill();
      server.close();
    }
  });
});

describe('scripts/client.ts in a terminal, with a hostile server', () => {
  test('nothing the server sends changes the title, clears the screen, or poses as another line', { skip }, async () => {
    // A server made by hand that relays anything, as the Python original does.
    const server = await handMadeServer();
    const { port, accepted } = server;
    const terminal = new Terminal(['--name', 'alice', '--port', String(port)], 120, 30);
    try {
      terminal.tmux('select-pane', '-t', 'chat', '-T', 'selectchat');
      const socket = await accepted;
      socket.write(frame('CLIENT: 127.0.0.1'));
      for (const [sent] of HOSTILE_LINES) socket.write(frame(sent));
      const last = HOSTILE_LINES.at(-1)![1];
      const lines = await terminal.waitFor('the last line', (lines) => lines.includes(last));
      for (const [, shown] of HOSTILE_LINES) assert.ok(lines.includes(shown), `shows ${JSON.stringify(shown)}:\n${lines.join('\n')}`);
      assert.ok(lines.includes(`Now connected to chat server@ port ${port}`), 'the screen was not cleared');
      assert.ok(!lines.some((line) => line.startsWith('#[admin')), 'no line poses as admin');
      assert.equal(terminal.tmux('display-message', '-p', '-t', 'chat', '#{pane_title}').trim(), 'selectchat', 'the title is unchanged');
      socket.destroy();
    } finally {
      terminal.kill();
      server.close();
    }
  });
});
