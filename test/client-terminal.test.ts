// The client in a real terminal: tmux runs it in a pseudo-terminal and shows
// us the screen as a user would see it.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { frame } from '../src/wire/wire.js';
import { firstFrame, handMadeServer, ROOT, RawClient, startServer, within } from './helpers/chat.js';
import { HOSTILE_LINES } from './helpers/hostile-lines.js';
import { NO_TMUX } from './helpers/system.js';

/** Each test is skipped, with this reason, where there is no tmux (a
 * skipped suite would report no tests at all). */
const skip = NO_TMUX;

let sessions = 0;

/** A client in a tmux pane of a given size, on a tmux server of its own. */
class Terminal {
  private readonly socketName = `selectchat-test-${process.pid}-${++sessions}`;
  /** The client's process id while stopClient() has it stopped. */
  private stopped: number | undefined;

  /** Starts `scripts/client.ts` with these flags; the shell around it
   * prints its exit status when it ends, and the pane stays to be read.
   * With `clientArgs` null, an interactive bash with job control, its
   * prompt `$ `, to type commands into. */
  constructor(
    clientArgs: string[] | null,
    /** Its columns, as made (resize() changes them). */
    public width: number,
    height = 20,
  ) {
    const command =
      clientArgs === null
        ? "env PS1='$ ' bash --norc --noprofile -i"
        : `${process.execPath} --import tsx scripts/client.ts ${clientArgs.join(' ')}; echo "exit status $?"`;
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

  /** The rows of the screen (tmux trims the spaces at their ends); with
   * `scrollback`, every row the terminal still holds, from the first. */
  screen(scrollback = false): string[] {
    return this.tmux('capture-pane', '-p', '-t', 'chat', ...(scrollback ? ['-S', '-'] : []))
      .split('\n')
      .map((line) => line.trimEnd());
  }

  /** Resizes the window, and waits until the terminal device has the new
   * width, which is what a program asks: tmux reflows its rows at once but
   * tells the device a moment later, up to a quarter of a second when resized
   * again within one (a real terminal does both at once). */
  async resize(width: number): Promise<void> {
    this.tmux('resize-window', '-t', 'chat', '-x', String(width));
    this.width = width;
    const device = this.tmux('display-message', '-p', '-t', 'chat', '#{pane_tty}').trim();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const size = execFileSync('stty', ['-F', device, 'size'], { encoding: 'utf8' }).trim();
      if (size.endsWith(` ${width}`)) return;
      assert.ok(Date.now() < deadline, `${device} is still ${size}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the client with SIGSTOP, as a busy machine may keep a process
   * from running: no job control, the shell and tmux see nothing. Returns
   * once it has stopped. */
  async stopClient(): Promise<void> {
    const shell = this.tmux('display-message', '-p', '-t', 'chat', '#{pane_pid}').trim();
    const children = execFileSync('pgrep', ['-P', shell], { encoding: 'utf8' }).trim().split('\n');
    assert.equal(children.length, 1, `the shell runs one process: ${children.join(' ')}`);
    const pid = Number(children[0]);
    process.kill(pid, 'SIGSTOP');
    this.stopped = pid;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const state = execFileSync('ps', ['-o', 'state=', '-p', String(pid)], { encoding: 'utf8' }).trim();
      if (state.startsWith('T')) return;
      assert.ok(Date.now() < deadline, `the client (${pid}) is still ${state}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Lets the client stopped by stopClient() run again. */
  continueClient(): void {
    if (this.stopped !== undefined) process.kill(this.stopped, 'SIGCONT');
    this.stopped = undefined;
  }

  cursor(): { x: number; y: number } {
    const [x, y] = this.tmux('display-message', '-p', '-t', 'chat', '#{cursor_x} #{cursor_y}').trim().split(' ').map(Number);
    return { x: x!, y: y! };
  }

  /** The screen is drawn by another process; look until it shows what is
   * expected (on the screen, or with `scrollback` in all the rows kept). */
  async waitFor(what: string, matches: (lines: string[]) => boolean, scrollback = false): Promise<string[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const lines = this.screen(scrollback);
      if (matches(lines)) return lines;
      if (Date.now() > deadline) assert.fail(`the screen never showed ${what}:\n${lines.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  kill(): void {
    this.continueClient();
    spawnSync('tmux', ['-L', this.socketName, 'kill-server']);
  }
}

/** How many columns `shown` takes in rows `width` wide, counting the blank
 * a character of two columns leaves where it would straddle a row's end:
 * the cursor after it stands on row columns / width, at column columns %
 * width. The tests type ASCII, one column a character, and CJK, two. */
function columnsTaken(shown: string, width: number): number {
  let columns = 0;
  for (const character of shown) {
    const wide = /[\u2e80-\uffef]/u.test(character);
    if (wide && columns % width === width - 1) columns += 1;
    columns += wide ? 2 : 1;
  }
  return columns;
}

/** What `listener` hears next from `name`, skipping the others' comings and goings. */
async function heardFrom(listener: RawClient, name: string): Promise<string | undefined> {
  for (;;) {
    const message = await listener.next();
    if (message === undefined || message.includes(`${name}@127.0.0.1`)) return message;
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

describe('scripts/client.ts in a terminal, at Ctrl-D', () => {
  test('Ctrl-D on an empty line: the line typed before it is relayed, the prompt goes and does not come back, and the client exits 0', { skip }, async (t) => {
    const chat = await startServer();
    t.after(() => chat.stop());
    const bob = await RawClient.join(chat.port, 'bob');
    const terminal = new Terminal(['--name', 'alice', '--port', String(chat.port)], 100);
    t.after(() => terminal.kill());
    assert.equal(await bob.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
    await terminal.waitFor('the prompt', (lines) => lines.includes('[alice@127.0.0.1]>'));
    terminal.type('last words');
    terminal.keys('Enter');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>last words');
    terminal.keys('C-d');
    assert.equal(await bob.next(), '\n(Now hung up: Client from alice@127.0.0.1)');
    const lines = await terminal.waitFor('the exit status', (lines) => lines.some((line) => line.startsWith('exit status')));
    assert.ok(lines.includes('exit status 0'), lines.join('\n'));
    assert.deepEqual(
      lines.filter((line) => line.startsWith('[alice@127.0.0.1]>')),
      ['[alice@127.0.0.1]> last words'],
      `no prompt after Ctrl-D:\n${lines.join('\n')}`,
    );
  });
});

describe('scripts/client.ts --trace in a terminal', () => {
  test("a round's trace line goes above the half-typed line, as a message does", { skip }, async (t) => {
    const chat = await startServer();
    t.after(() => chat.stop());
    const bob = await RawClient.join(chat.port, 'bob');
    const terminal = new Terminal(['--name', 'alice', '--port', String(chat.port), '--trace'], 100);
    t.after(() => terminal.kill());
    assert.equal(await bob.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
    const prompt = '[alice@127.0.0.1]> ';
    terminal.type('half a line');
    await terminal.waitFor('the half-typed line', (lines) => lines.includes(`${prompt}half a line`));
    bob.send('hello from bob');
    const lines = await terminal.waitFor(
      'the round and the message',
      (lines) => lines.some((line) => line.endsWith('| server: a message')) && lines.includes('#[bob@127.0.0.1]>>hello from bob'),
    );
    assert.equal(lines.filter((line) => line.includes('half a line')).length, 1, lines.join('\n'));
    assert.equal(lines.filter((line) => line !== '').at(-1), `${prompt}half a line`, lines.join('\n'));
    assert.ok(
      lines.every((line) => !/\S.*round \d+:/.test(line)),
      `no trace line glued to another:\n${lines.join('\n')}`,
    );
  });
});

describe('scripts/client.ts in a terminal: the half-typed line survives, wrapped over rows, wide, edited, resized or suspended', () => {
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

  const heard = (name: string) => heardFrom(bob, name);

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
    // The line may show before the client has taken the Left keys: wait
    // until the cursor stands where they put it, counted from the row the
    // prompt starts on. (Rows joined: a wide character that would straddle
    // the end of a row leaves a blank column there, which tmux trims.)
    const { width } = terminal;
    const place = columnsTaken(`${prompt}${text.slice(0, text.length - lefts)}`, width);
    let cursor = { x: 0, y: 0 };
    const before = await terminal.waitFor('the typed line, the cursor where the keys put it', (lines) => {
      cursor = terminal.cursor();
      const top = lines.findIndex((line) => line.startsWith(prompt));
      return lines.join('').includes(text) && cursor.x === place % width && cursor.y === top + Math.floor(place / width);
    });
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

  /** Every row the terminal holds, from the message "shown before" on, is
   * `messages`, then the prompt and `typed` in rows `width` wide: no copy
   * of the line left behind, no message erased. */
  const holds = (prompt: string, width: number, messages: string[], typed: string) => (lines: string[]) => {
    const rows = lines.slice(lines.indexOf('#[bob@127.0.0.1]>>shown before'));
    while (rows.at(-1) === '') rows.pop();
    const line = `${prompt}${typed}`;
    const lineRows = Array.from({ length: Math.ceil(line.length / width) }, (_, n) => line.slice(n * width, (n + 1) * width));
    return JSON.stringify(rows) === JSON.stringify([...messages.map((message) => `#[bob@127.0.0.1]>>${message}`), ...lineRows]);
  };

  /** A client named `name` in a terminal `width` columns wide, below the
   * message "shown before", with `length` letters typed. */
  async function typedBelowAMessage(name: string, width: number, length: number): Promise<{ terminal: Terminal; prompt: string; text: string }> {
    const { terminal, prompt } = await join(name, width);
    bob.send('shown before');
    await terminal.waitFor('the first message', (lines) => lines.includes('#[bob@127.0.0.1]>>shown before'));
    const text = Array.from({ length }, (_, n) => String.fromCharCode(97 + (n % 26))).join('');
    terminal.type(text);
    await terminal.waitFor('the typed line', (lines) => lines.join('').includes(`${prompt}${text}`));
    return { terminal, prompt, text };
  }

  test('resized 80 → 40 → 80 columns with a line half typed: the line redrawn once at each width, nothing shown erased', { skip }, async () => {
    // One row at 80 columns, two at 40.
    const { terminal, prompt, text } = await typedBelowAMessage('resized', 80, 50);
    try {
      const shows = (width: number, messages: string[], typed: string) => holds(prompt, width, messages, typed);
      // A character typed once the terminal has its new width shows after
      // the client has taken the resize: its redraw is on the screen by then.
      await terminal.resize(40);
      terminal.type('+');
      await terminal.waitFor('the line redrawn once at 40 columns', shows(40, ['shown before'], `${text}+`), true);
      bob.send('after narrowing');
      await terminal.waitFor('the message above the line', shows(40, ['shown before', 'after narrowing'], `${text}+`), true);

      await terminal.resize(80);
      terminal.type('-');
      await terminal.waitFor('the line redrawn once at 80 columns, the messages kept', shows(80, ['shown before', 'after narrowing'], `${text}+-`), true);
      bob.send('after widening');
      await terminal.waitFor('the message above the line', shows(80, ['shown before', 'after narrowing', 'after widening'], `${text}+-`), true);
      terminal.keys('Enter');
      assert.equal(await heard('resized'), `\n#[resized@127.0.0.1]>>${text}+-`);
    } finally {
      terminal.kill();
    }
  });

  test('a line that exactly fills the new width, narrowed and widened: redrawn once, nothing shown erased, nothing left above', { skip }, async () => {
    // The prompt and the text take 60 columns: one row at 80, one full row
    // at 60, two at 30.
    const { terminal, prompt, text } = await typedBelowAMessage('exact', 80, 60 - '[exact@127.0.0.1]> '.length);
    try {
      const shows = (width: number, typed: string, messages = ['shown before']) => holds(prompt, width, messages, typed);

      // Drawn at 80, the line ends mid-row; at 60 it fills its row, and the
      // cursor after it waits at that row's end.
      await terminal.resize(60);
      terminal.type('+');
      await terminal.waitFor('the line redrawn once at 60 columns', shows(60, `${text}+`), true);
      // Drawn again at 60 without the +, the line fills its row, and readline
      // puts the cursor on the next one: at 30 it stands on a row of its own
      // too.
      terminal.keys('BSpace');
      await terminal.waitFor('the line without the +', shows(60, text), true);
      await terminal.resize(30);
      terminal.type('+');
      await terminal.waitFor('the line redrawn once at 30 columns', shows(30, `${text}+`), true);
      // 61 columns drawn at 30 end mid-row; widened to 61 they fill one row.
      await terminal.resize(61);
      terminal.type('-');
      await terminal.waitFor('the line redrawn once at 61 columns', shows(61, `${text}+-`), true);
      bob.send('after the resizes');
      await terminal.waitFor('the message above the line', shows(61, `${text}+-`, ['shown before', 'after the resizes']), true);
      terminal.keys('Enter');
      assert.equal(await heard('exact'), `\n#[exact@127.0.0.1]>>${text}+-`);
    } finally {
      terminal.kill();
    }
  });

  test('wide characters that exactly fill the new width, one of them where a row ends: redrawn once, nothing shown erased', { skip }, async () => {
    const { terminal, prompt } = await join('wider', 80);
    try {
      bob.send('shown before');
      await terminal.waitFor('the first message', (lines) => lines.includes('#[bob@127.0.0.1]>>shown before'));
      // The prompt and the "a" take 20 columns. At 80 columns thirty characters
      // of two columns fill the first row, and the "b" starts the next. At 41,
      // the 11th would straddle the first row's end and starts the next
      // row, which the other 19 and the "b" fill exactly.
      const text = `a${'漢字かな交'.repeat(6)}b`;
      terminal.type(text);
      await terminal.waitFor('the typed line', (lines) => lines.join('').includes(`${prompt}${text}`));
      await terminal.resize(41);
      terminal.type('+');
      const rows = ['#[bob@127.0.0.1]>>shown before', `${prompt}${text.slice(0, 11)}`, text.slice(11), '+'];
      await terminal.waitFor('the line redrawn once at 41 columns', (lines) => {
        const shown = lines.slice(lines.indexOf(rows[0]!));
        while (shown.at(-1) === '') shown.pop();
        return JSON.stringify(shown) === JSON.stringify(rows);
      });
      terminal.keys('Enter');
      assert.equal(await heard('wider'), `\n#[wider@127.0.0.1]>>${text}+`);
    } finally {
      terminal.kill();
    }
  });

  test('a message that comes with a resize, both while the client could not run: the message printed at the new width, nothing shown erased', {
    skip,
  }, async () => {
    const carol = await RawClient.join(chat.port, 'carol');
    // Two rows at 40 columns, one at 80.
    const { terminal, prompt, text } = await typedBelowAMessage('racing', 40, 50);
    try {
      // A busy machine may not run the client between a message's arrival
      // and the resize's SIGWINCH: it finds both together when it runs
      // again. The reactor gives Node a turn before each round, in which
      // the SIGWINCH is heard (libuv runs signal callbacks after the I/O
      // callbacks that came with them): the message is printed after the
      // redraw, at the new width.
      await terminal.stopClient();
      bob.send('racing the resize');
      // Carol has it once the server has written it to every socket.
      for (let heard = await carol.next(); heard !== '\n#[bob@127.0.0.1]>>racing the resize'; heard = await carol.next()) {
        assert.notEqual(heard, undefined, 'carol was not hung up on');
      }
      await terminal.resize(80);
      terminal.continueClient();

      await terminal.waitFor('the message above the line at 80 columns', holds(prompt, 80, ['shown before', 'racing the resize'], text), true);
      terminal.type('+');
      await terminal.waitFor('the + typed', holds(prompt, 80, ['shown before', 'racing the resize'], `${text}+`), true);
      terminal.keys('Enter');
      assert.equal(await heard('racing'), `\n#[racing@127.0.0.1]>>${text}+`);
    } finally {
      terminal.kill();
      carol.end();
    }
  });

  test('a key typed with a resize, both while the client could not run: the key lands where the cursor was, the line drawn once at the new width', {
    skip,
  }, async () => {
    // Two rows at 40 columns, one at 80; the cursor five from the end.
    const { terminal, prompt, text } = await typedBelowAMessage('typing', 40, 50);
    try {
      terminal.keys(...Array(5).fill('Left'));
      await terminal.waitFor(
        'the cursor moved',
        (lines) => lines.join('').includes(`${prompt}${text}`) && terminal.cursor().x === (prompt.length + text.length - 5) % 40,
      );

      // As above, the key and the SIGWINCH are found together, and readline
      // draws a key in stdin's callback, before the signal's.
      await terminal.stopClient();
      await terminal.resize(80);
      terminal.type('X');
      terminal.continueClient();

      const typed = `${text.slice(0, -5)}X${text.slice(-5)}`;
      await terminal.waitFor(
        'the line with the X at 80 columns',
        (lines) => holds(prompt, 80, ['shown before'], typed)(lines) && terminal.cursor().x === prompt.length + text.length - 4,
        true,
      );
      terminal.keys('Enter');
      assert.equal(await heard('typing'), `\n#[typing@127.0.0.1]>>${typed}`);
    } finally {
      terminal.kill();
    }
  });

  const launchers = [
    ['node --import tsx', `${process.execPath} --import tsx`],
    // npx and tsx are processes of their own in front of the client: the
    // whole job must stop, or the shell would go on waiting for npx.
    ['npx tsx', 'npx tsx'],
  ];
  for (const [how, launcher] of launchers) {
    test(`Ctrl-Z under ${how}, a command, fg, in a room where nobody else speaks: the job stops; after fg the keyboard works at once, in raw mode`, {
      skip,
    }, async () => {
      const name = how === 'npx tsx' ? 'npx' : 'node';
      const prompt = `[${name}@127.0.0.1]> `;
      const terminal = new Terminal(null, 80);
      try {
        await terminal.waitFor('the shell', (lines) => lines[0] === '$');
        terminal.type(`${launcher} scripts/client.ts --name ${name} --port ${chat.port}`);
        terminal.keys('Enter');
        assert.match((await heard(name))!, /^\n\(Connected: New client/);
        await terminal.waitFor('the prompt', (lines) => lines.includes(prompt.trimEnd()));
        terminal.type('half');
        await terminal.waitFor('the half-typed line', (lines) => lines.includes(`${prompt}half`));

        terminal.keys('C-z');
        await terminal.waitFor('the job stopped, and the shell back', (lines) => lines.some((line) => /^\[1\]\+ +Stopped/.test(line)) && lines.includes('$'));
        terminal.type('echo between');
        terminal.keys('Enter');
        await terminal.waitFor('the command run', (lines) => lines.includes('between'));
        terminal.type('fg');
        terminal.keys('Enter');
        await terminal.waitFor('the line drawn again', (lines) => lines.filter((line) => line !== '').at(-1) === `${prompt}half`);

        // Raw mode: the arrows move the cursor instead of typing ^[[D.
        terminal.keys('Left', 'Left', 'Left', 'Left');
        terminal.type('a ');
        terminal.keys('End');
        terminal.type(' after fg');
        const typed = await terminal.waitFor('the line as typed after fg', (lines) => lines.includes(`${prompt}a half after fg`));
        assert.equal(typed.filter((line) => line.includes(prompt)).length, 1, `the line shown once:\n${typed.join('\n')}`);
        terminal.keys('Enter');
        assert.equal(await within(10_000, 'the line typed after fg', heard(name)), `\n#[${name}@127.0.0.1]>>a half after fg`);
        terminal.keys('C-c');
        assert.equal(await heard(name), `\n(Now hung up: Client from ${name}@127.0.0.1)`);
      } finally {
        terminal.kill();
      }
    });
  }

  test('resized while stopped by Ctrl-Z, which no SIGWINCH tells: after fg the line is drawn at the new width', { skip }, async () => {
    const prompt = '[stopped@127.0.0.1]> ';
    const terminal = new Terminal(null, 80);
    try {
      await terminal.waitFor('the shell', (lines) => lines[0] === '$');
      terminal.type(`${process.execPath} --import tsx scripts/client.ts --name stopped --port ${chat.port}`);
      terminal.keys('Enter');
      assert.match((await heard('stopped'))!, /^\n\(Connected: New client/);
      await terminal.waitFor('the prompt', (lines) => lines.includes(prompt.trimEnd()));
      // One row at 80 columns, two at 40.
      const text = Array.from({ length: 50 }, (_, n) => String.fromCharCode(97 + (n % 26))).join('');
      terminal.type(text);
      await terminal.waitFor('the half-typed line', (lines) => lines.includes(`${prompt}${text}`));

      terminal.keys('C-z');
      await terminal.waitFor('the job stopped, and the shell back', (lines) => lines.some((line) => /^\[1\]\+ +Stopped/.test(line)) && lines.includes('$'));
      // The shell is the terminal's foreground job now: the SIGWINCH goes to it.
      await terminal.resize(40);
      terminal.type('fg');
      terminal.keys('Enter');
      terminal.type('+');
      const rows = (line: string) => Array.from({ length: Math.ceil(line.length / 40) }, (_, n) => line.slice(n * 40, (n + 1) * 40));
      const endsWith = (expected: string[]) => (lines: string[]) => {
        const shown = lines.filter((line) => line !== '');
        return JSON.stringify(shown.slice(-expected.length)) === JSON.stringify(expected) && shown.filter((line) => line.startsWith(prompt)).length === 1;
      };
      const drawn = await terminal.waitFor('the line drawn at 40 columns, the + after it', endsWith(rows(`${prompt}${text}+`)));
      const shown = drawn.filter((line) => line !== '');
      const above = shown.at(-rows(`${prompt}${text}+`).length - 1);

      bob.send('after fg');
      const after = await terminal.waitFor('the message above the line', endsWith(['#[bob@127.0.0.1]>>after fg', ...rows(`${prompt}${text}+`)]));
      const message = after.indexOf('#[bob@127.0.0.1]>>after fg');
      assert.equal(
        after
          .slice(0, message)
          .filter((line) => line !== '')
          .at(-1),
        above,
        'the row above the line is still there',
      );
      terminal.keys('Enter');
      assert.equal(await heard('stopped'), `\n#[stopped@127.0.0.1]>>${text}+`);
      terminal.keys('C-c');
      assert.equal(await heard('stopped'), '\n(Now hung up: Client from stopped@127.0.0.1)');
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
