// The loop view in a real browser: headless Chromium, driven over the
// DevTools protocol, watching and holding the server's real loop; its
// large type on a projector; a replay. (A class of 200 on the page, for
// thousands of rounds: test/view-browser-class.test.ts.)

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LoopHold } from '../src/view/hold.js';
import { RecordingFile, recordingOf } from '../src/view/recording.js';
import { LoopView } from '../src/view/view.js';
import { RawClient, startServerProgram } from './helpers/chat.js';
import { Browser } from './helpers/inspector.js';
import { classRound, skip, status } from './helpers/view-page.js';

/** Whether an element is on the page: not hidden by any attribute or rule. */
const shown = (id: string) => `document.getElementById('${id}').checkVisibility()`;

/** An expression: which of these elements are not in view, in the window
 * and in the panel that scrolls them, without scrolling either. */
function outOfView(selectors: string[]): string {
  return `${JSON.stringify(selectors)}.filter((selector) => {
    const node = document.querySelector(selector);
    if (node === null || !node.checkVisibility()) return true;
    const box = node.getBoundingClientRect();
    const panel = node.closest('section').getBoundingClientRect();
    return box.top < Math.max(0, panel.top) || box.bottom > Math.min(innerHeight, panel.bottom);
  })`;
}

/** Modifier bits of Input.dispatchKeyEvent. */
const ALT = 1;
const CTRL = 2;
const META = 4;

/** Presses and releases an arrow key, as a keyboard would, with modifiers. */
function pressKey(browser: Browser, key: 'ArrowLeft' | 'ArrowRight', modifiers = 0): Promise<unknown> {
  return Promise.all(
    ['keyDown', 'keyUp'].map((type) =>
      browser.page.send('Input.dispatchKeyEvent', { type, key, code: key, modifiers, windowsVirtualKeyCode: key === 'ArrowRight' ? 39 : 37 }),
    ),
  );
}

/** Clicks an element with the mouse, at its middle: it takes the focus, as a real click does. */
async function clickWithMouse(browser: Browser, selector: string): Promise<void> {
  const { x, y } = await browser.evaluate<{ x: number; y: number }>(`(() => {
    const box = document.querySelector('${selector}').getBoundingClientRect();
    return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
  })()`);
  for (const type of ['mousePressed', 'mouseReleased']) await browser.page.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 });
}

/** A page replaying `count` rounds of a class, open on its first round. */
async function replayOf(count: number): Promise<{ view: LoopView; browser: Browser }> {
  const view = await LoopView.start({ port: 0, recording: recordingOf(Array.from({ length: count }, (_, at) => classRound(at + 1))) });
  const browser = await Browser.open();
  await browser.goto(view.url);
  await browser.until('the replay', `${status} === 'replay: ${count} rounds'`);
  return { view, browser };
}

const shownRound = `document.querySelector('#detail h2')?.textContent`;

describe('the loop view in Chromium', { skip }, () => {
  test('opened as localhost: Pause holds an idle loop, the page says held, Step runs one round; a refused command shows', { timeout: 60_000 }, async () => {
    const { program, port } = await startServerProgram(['--view', '0']);
    const url = new URL((await program.line(/^Loop view: /)).slice('Loop view: '.length));
    url.hostname = 'localhost';
    const browser = await Browser.open();
    try {
      await browser.goto(url.href);
      await browser.until('the page running', `${status} === 'running'`);
      assert.ok(
        await browser.evaluate<boolean>(`${shown('pause')} && ${shown('follow-label')} && !${shown('back')} && !${shown('forward')}`),
        'live controls only',
      );
      const alice = await RawClient.join(port, 'alice');
      const bob = await RawClient.join(port, 'bob');
      await alice.next();
      await browser.until(
        'alice and bob in clientmap',
        `document.getElementById('state').textContent.includes('bob') && document.getElementById('state').textContent.includes('alice')`,
      );
      alice.send('hello from alice');
      assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>hello from alice');
      await browser.until("the line's round", `document.getElementById('rounds').textContent.includes('alice@127.0.0.1: a message, sent to bob@127.0.0.1')`);
      const detail = await browser.evaluate<string>(`document.getElementById('detail').textContent`);
      assert.match(detail, /for output in self\.outputs/, 'the round is tied to the recipe');
      assert.match(detail, /an idle socket is always writable/, 'why the outputs are only the congested clients');

      // The loop sleeps in select(): Pause holds it there at once.
      await browser.evaluate(`document.getElementById('pause').click()`);
      await browser.until('held', `${status} === 'held in select()'`);
      assert.equal(await browser.evaluate<boolean>(`document.getElementById('problem').hidden`), true, 'no problem shown');
      const roundsHeld = await browser.evaluate<number>(`document.getElementById('rounds').children.length`);
      bob.send('while held');
      await browser.until('the queue growing', `document.getElementById('queued').textContent.includes('bob@127.0.0.1')`);
      assert.equal(await browser.evaluate<number>(`document.getElementById('rounds').children.length`), roundsHeld, 'no round ran while held');
      assert.equal(alice.messages.pending.length, 0, 'nothing served');

      await browser.evaluate(`document.getElementById('step').click()`);
      assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>while held');
      await browser.until('one more round', `document.getElementById('rounds').children.length === ${roundsHeld + 1}`);
      await browser.until('held again', `${status} === 'held in select()'`);
      assert.match(
        await browser.evaluate<string>(`document.getElementById('detail').textContent`),
        /ms asleep in select\(\), \d+ ms held by Pause, \d+ ms working/,
      );
      const note = `document.getElementById('queue-note').textContent`;
      assert.match(await browser.evaluate<string>(note), /^The loop is held in select\(\)/);
      // A Step with nothing waiting: the round sleeps in select(), and the
      // queue's panel says so, not that the loop is held.
      await browser.evaluate(`document.getElementById('step').click()`);
      await browser.until('stepping', `${status} === 'stepping: 1 round to run'`);
      assert.match(await browser.evaluate<string>(note), /^Stepping: 1 round may run\. With nothing waiting, select\(\) sleeps until the next event/);
      bob.send('stepped into');
      assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>stepped into');
      await browser.until('held after the step', `${status} === 'held in select()'`);
      assert.match(await browser.evaluate<string>(note), /^The loop is held in select\(\)/);
      await browser.evaluate(`document.getElementById('resume').click()`);
      await browser.until('running again', `${status} === 'running'`);
      alice.send('after resume');
      assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>after resume');

      await browser.evaluate(`command('shutdown')`);
      await browser.until('the refusal shown', `!document.getElementById('problem').hidden`);
      assert.equal(
        await browser.evaluate<string>(`document.getElementById('problem').textContent`),
        'shutdown was refused (400): the command is pause, step or resume, on a live loop',
      );
    } finally {
      browser.close();
      program.child.kill('SIGINT');
      await program.exited;
    }
  });

  test("a page past the streams' cap shows the server's reason, and watches once a place is free", { timeout: 60_000 }, async () => {
    const view = await LoopView.start({ port: 0, hold: new LoopHold(), limits: { maxStreams: 1 } });
    const browser = await Browser.open();
    // Another page takes the only place.
    const other = await new Promise<IncomingMessage>((resolve, reject) =>
      request({ host: '127.0.0.1', port: view.port, path: `/events?token=${view.token}` }, resolve)
        .on('error', reject)
        .end(),
    );
    try {
      await browser.goto(view.url);
      await browser.until('the refusal', `!document.getElementById('problem').hidden`);
      assert.equal(
        await browser.evaluate<string>(`document.getElementById('problem').textContent`),
        'The server refused this page: 1 page is watching already, the most the view serves: close one (503). Trying again every 3 s.',
      );
      assert.equal(await browser.evaluate<string>(status), 'not watching');
      other.destroy();
      await browser.until('the page watching', `${status} === 'running'`);
      assert.equal(await browser.evaluate<boolean>(`document.getElementById('problem').hidden`), true, 'the refusal gone');
      view.add(classRound(1));
      await browser.until('a round', `newest === 1`);
    } finally {
      other.destroy();
      browser.close();
      view.close();
    }
  });

  test('large type: 18 px or more and 4.5:1 at 1280x800, nothing cut at 150 % zoom', { timeout: 60_000 }, async () => {
    const hold = new LoopHold();
    const view = await LoopView.start({
      port: 0,
      hold,
      queued: () => Array.from({ length: 9000 }, (_, at) => ({ kind: 'connection', source: `connection ${at}`, count: 1, bytes: 0 })),
    });
    const browser = await Browser.open();
    try {
      await browser.page.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 800, deviceScaleFactor: 1, mobile: false });
      await browser.goto(view.url);
      await browser.until('the page running', `${status} === 'running'`);
      for (let round = 1; round <= 30; round++) view.add(classRound(round));
      await browser.until('a round shown', `document.getElementById('did') !== null`);
      // Running: what the loop did, and the state the recipe keeps, in view without scrolling.
      assert.deepEqual(await browser.evaluate<string[]>(outOfView(['#did', '#round .action', '#state h2'])), []);
      hold.pause();
      // Thirty rounds of a class fill the page's stream; the hold's status
      // still reaches it.
      await browser.until('held', `${status} === 'held in select()'`);
      await browser.until('the queue of 9,000 summarised', `document.getElementById('queued').textContent.includes('9000 events from 9000 sources')`);
      assert.ok((await browser.evaluate<number>(`document.querySelectorAll('#queued tr').length`)) <= 22, 'a screenful of the queue');
      const smallest = await browser.evaluate<{ size: number; text: string }>(`(() => {
        let smallest = { size: Infinity, text: '' };
        for (const node of document.querySelectorAll('body *')) {
          if (node.offsetParent === null || ![...node.childNodes].some((child) => child.nodeType === 3 && child.textContent.trim())) continue;
          const size = parseFloat(getComputedStyle(node).fontSize);
          if (size < smallest.size) smallest = { size, text: node.textContent.slice(0, 40) };
        }
        return smallest;
      })()`);
      assert.ok(smallest.size >= 18, `text of ${smallest.size} px: ${smallest.text}`);
      const worst = await browser.evaluate<{ ratio: number; text: string }>(`(() => {
        const rgb = (colour) => colour.match(/[\\d.]+/g).map(Number);
        const luminance = ([r, g, b]) => [r, g, b].map((c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4).reduce((sum, c, at) => sum + c * [0.2126, 0.7152, 0.0722][at], 0);
        const background = (node) => {
          for (; node; node = node.parentElement) {
            const colour = rgb(getComputedStyle(node).backgroundColor);
            if (colour.length === 3 || colour[3] > 0) return colour.slice(0, 3);
          }
          return [255, 255, 255];
        };
        let worst = { ratio: Infinity, text: '' };
        for (const node of document.querySelectorAll('body *')) {
          if (node.offsetParent === null || ![...node.childNodes].some((child) => child.nodeType === 3 && child.textContent.trim())) continue;
          const [a, b] = [luminance(rgb(getComputedStyle(node).color)), luminance(background(node))].sort((x, y) => y - x);
          const ratio = (a + 0.05) / (b + 0.05);
          if (ratio < worst.ratio) worst = { ratio, text: node.textContent.slice(0, 40) };
        }
        return worst;
      })()`);
      assert.ok(worst.ratio >= 4.5, `contrast ${worst.ratio.toFixed(2)}:1 for ${worst.text}`);
      const { data } = await browser.page.send('Page.captureScreenshot', { format: 'png' });
      const png = Buffer.from(data, 'base64');
      assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1280, 800], 'a 1280x800 picture');
      // Held: what the loop did, and the queue, in view without scrolling.
      assert.deepEqual(await browser.evaluate<string[]>(outOfView(['#did', '#round .action', '#queue h2', '#queued p'])), []);
      // The explanation of the outputs is on the page once, not in each round.
      await browser.evaluate(`document.querySelector('#rounds li:nth-child(2)').click()`);
      assert.equal(await browser.evaluate<number>(`document.querySelectorAll('.why').length`), 1);
      assert.equal(await browser.evaluate<number>(`document.querySelectorAll('#round .why').length`), 0);

      // 150 % zoom: the same screen, 853 CSS pixels wide.
      await browser.page.send('Emulation.setDeviceMetricsOverride', { width: 853, height: 533, deviceScaleFactor: 1.5, mobile: false });
      await browser.evaluate(`document.querySelector('#rounds li:nth-child(3)').click()`);
      const cut = await browser.evaluate<string[]>(`(() => {
        const cut = [];
        if (document.documentElement.scrollWidth > innerWidth) cut.push('the page scrolls sideways');
        for (const node of document.querySelectorAll('body *')) {
          if (node.offsetParent === null) continue;
          const style = getComputedStyle(node);
          if (style.textOverflow === 'ellipsis') cut.push('ellipsis: ' + node.textContent.slice(0, 40));
          if (/hidden|clip/.test(style.overflowX) && node.scrollWidth > node.clientWidth + 1) cut.push('cut: ' + node.textContent.slice(0, 40));
          if (node.getBoundingClientRect().right > innerWidth + 1) cut.push('past the edge: ' + node.textContent.slice(0, 40));
        }
        return cut;
      })()`);
      assert.deepEqual(cut, []);
      // Held, the queue is what fills: it is in view at 150 % too.
      assert.deepEqual(await browser.evaluate<string[]>(outOfView(['#queue h2', '#queued p', '#round h2'])), []);
    } finally {
      browser.close();
      view.close();
    }
  });

  test('a replay of 1,009 rounds opens on its first round, shown in the list; arrow keys step; only replay controls', { timeout: 60_000 }, async () => {
    const { view, browser } = await replayOf(1009);
    try {
      assert.equal(await browser.evaluate<string>(`document.querySelector('#rounds li.chosen')?.dataset.round`), '1', 'round 1 chosen, in the list');
      assert.match(await browser.evaluate<string>(`document.querySelector('#detail h2').textContent`), /^Round 1$/);
      assert.ok(
        await browser.evaluate<boolean>(
          `${shown('back')} && ${shown('forward')} && !${shown('pause')} && !${shown('step')} && !${shown('resume')} && !${shown('follow-label')}`,
        ),
        'replay controls only',
      );
      const key = (key: 'ArrowLeft' | 'ArrowRight') => pressKey(browser, key);
      await key('ArrowRight');
      await key('ArrowRight');
      await browser.until('round 3', `document.querySelector('#detail h2').textContent === 'Round 3'`);
      await key('ArrowLeft');
      await browser.until('round 2', `document.querySelector('#detail h2').textContent === 'Round 2'`);
      await browser.evaluate(`for (let i = 0; i < 600; i++) document.getElementById('forward').click()`);
      await browser.until('round 602', `document.querySelector('#detail h2').textContent === 'Round 602'`);
      assert.equal(await browser.evaluate<string>(`document.querySelector('#rounds li.chosen')?.dataset.round`), '602', 'the list follows the chosen round');
      assert.ok((await browser.evaluate<number>(`rounds.length`)) <= 200, 'the page holds a window of the recording');
      await browser.evaluate(`for (let i = 0; i < 2000; i++) document.getElementById('forward').click()`);
      await browser.until('the last round', `document.querySelector('#detail h2').textContent === 'Round 1009'`);
      await key('ArrowLeft');
      await browser.until('round 1008', `document.querySelector('#detail h2').textContent === 'Round 1008'`);
    } finally {
      browser.close();
      view.close();
    }
  });
  test('"follow" clicked with the mouse, then ← and →: the arrows step; in a text field they are the field\'s', { timeout: 60_000 }, async () => {
    const view = await LoopView.start({ port: 0, hold: new LoopHold() });
    const browser = await Browser.open();
    try {
      await browser.goto(view.url);
      await browser.until('the page running', `${status} === 'running'`);
      for (let round = 1; round <= 5; round++) view.add(classRound(round));
      await browser.until('the newest round followed', `${shownRound} === 'Round 5'`);
      await clickWithMouse(browser, '#follow');
      assert.deepEqual(
        await browser.evaluate<[string, boolean]>(`[document.activeElement.id, document.getElementById('follow').checked]`),
        ['follow', false],
        'the checkbox has the focus, and is unchecked',
      );
      await pressKey(browser, 'ArrowLeft');
      await browser.until('round 4', `${shownRound} === 'Round 4'`);
      await pressKey(browser, 'ArrowLeft');
      await pressKey(browser, 'ArrowRight');
      await browser.until('round 4 again', `${shownRound} === 'Round 4'`);
      assert.equal(await browser.evaluate<string>(`document.activeElement.id`), 'follow', 'the checkbox kept the focus');

      // A text field keeps its arrows: they move its cursor, not the rounds.
      await browser.evaluate(`(() => {
        const field = Object.assign(document.createElement('input'), { id: 'typed', value: 'abc' });
        document.querySelector('header').append(field);
        field.focus();
      })()`);
      await pressKey(browser, 'ArrowLeft');
      assert.equal(await browser.evaluate<number>(`document.getElementById('typed').selectionStart`), 2, 'the cursor moved in the field');
      assert.equal(await browser.evaluate<string>(shownRound), 'Round 4');
    } finally {
      browser.close();
      view.close();
    }
  });

  test("Alt+←, Ctrl+←, Cmd+← (the browser's Back and the like) are left to the browser: the page neither steps nor cancels them", {
    timeout: 60_000,
  }, async () => {
    const { view, browser } = await replayOf(10);
    try {
      await pressKey(browser, 'ArrowRight');
      await pressKey(browser, 'ArrowRight');
      await browser.until('round 3', `${shownRound} === 'Round 3'`);
      // Every arrow key the page sees, and whether it was cancelled, after
      // the page's own handler has run.
      await browser.evaluate(
        `window.keysSeen = []; window.addEventListener('keydown', (event) => keysSeen.push([event.key, event.altKey, event.ctrlKey, event.metaKey, event.defaultPrevented]))`,
      );
      for (const modifiers of [ALT, CTRL, META]) {
        await pressKey(browser, 'ArrowLeft', modifiers);
        await pressKey(browser, 'ArrowRight', modifiers);
      }
      assert.deepEqual(await browser.evaluate<unknown[]>(`keysSeen`), [
        ['ArrowLeft', true, false, false, false],
        ['ArrowRight', true, false, false, false],
        ['ArrowLeft', false, true, false, false],
        ['ArrowRight', false, true, false, false],
        ['ArrowLeft', false, false, true, false],
        ['ArrowRight', false, false, true, false],
      ]);
      assert.equal(await browser.evaluate<string>(shownRound), 'Round 3', 'no step');
      // Without a modifier the arrows still step, and are the page's.
      await pressKey(browser, 'ArrowLeft');
      await browser.until('round 2', `${shownRound} === 'Round 2'`);
      assert.deepEqual(await browser.evaluate<unknown[]>(`keysSeen.at(-1)`), ['ArrowLeft', false, false, false, true]);
    } finally {
      browser.close();
      view.close();
    }
  });

  test('a replay whose last line was cut short: every whole round replays, and the page says the last line was cut', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selectchat-replay-'));
    const file = join(dir, 'cut.jsonl');
    const whole = Array.from({ length: 3 }, (_, at) => JSON.stringify(classRound(at + 1)));
    writeFileSync(file, `${whole.join('\n')}\n${JSON.stringify(classRound(4)).slice(0, 1000)}`);
    const recording = await RecordingFile.open(file);
    const view = await LoopView.start({ port: 0, recording });
    const browser = await Browser.open();
    try {
      await browser.goto(view.url);
      await browser.until('the replay', `${status} === 'replay: 3 rounds'`);
      assert.equal(
        await browser.evaluate<string>(`document.getElementById('cut').checkVisibility() && document.getElementById('cut').textContent`),
        "The recording's last line (line 4, 1000 bytes) was cut short, as when the server stops in the middle of writing it: it is left out, and the 3 whole rounds before it replay.",
      );
      await pressKey(browser, 'ArrowRight');
      await pressKey(browser, 'ArrowRight');
      await pressKey(browser, 'ArrowRight');
      await browser.until('round 3, the last whole one', `${shownRound} === 'Round 3'`);
    } finally {
      browser.close();
      view.close();
      recording.close();
      rmSync(dir, { recursive: true });
    }
  });

  test('a replay of a whole recording says nothing was cut', { timeout: 60_000 }, async () => {
    const view = await LoopView.start({ port: 0, recording: recordingOf([classRound(1)]) });
    const browser = await Browser.open();
    try {
      await browser.goto(view.url);
      await browser.until('the replay', `${status} === 'replay: 1 round'`);
      assert.equal(await browser.evaluate<boolean>(shown('cut')), false);
    } finally {
      browser.close();
      view.close();
    }
  });
});
