// The loop view in a real browser with a class of 200: thousands of rounds
// on the page, its heap over them, and Pause and Resume while the class
// talks. (Apart from test/view-browser.test.ts, which is long enough.)

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LoopHold } from '../src/view/hold.js';
import { LoopView } from '../src/view/view.js';
import { RawClient, startServerProgram } from './helpers/chat.js';
import { Browser } from './helpers/inspector.js';
import { FEED_LIMITS, feed, heapMb, skip, status } from './helpers/view-page.js';

describe('the loop view in Chromium, a class of 200', { skip }, () => {
  test('thousands of rounds of a class of 200: the page keeps a window of them, and its heap stays put', { timeout: 120_000 }, async (t) => {
    const view = await LoopView.start({ port: 0, hold: new LoopHold(), limits: FEED_LIMITS });
    const browser = await Browser.open();
    try {
      await browser.goto(view.url);
      await browser.until('the page running', `${status} === 'running'`);
      await feed(view, browser, 1, 1000);
      const at1000 = await heapMb(browser);
      // Past the page's window of 400 rounds, 1,500 more: a page that kept
      // a kilobyte of each (a round's data is 33 kB) would grow 1.5 MB.
      await feed(view, browser, 1001, 2500);
      const at2500 = await heapMb(browser);
      t.diagnostic(`page heap ${at1000.toFixed(1)} MB at round 1,000, ${at2500.toFixed(1)} MB at round 2,500`);
      assert.ok(at2500 - at1000 < 1.5, `the heap grew ${(at2500 - at1000).toFixed(1)} MB over 1,500 rounds`);
      assert.ok((await browser.evaluate<number>(`document.getElementById('rounds').children.length`)) <= 400, 'a window of rounds');
      assert.ok((await browser.evaluate<number>(`document.querySelectorAll('#state tr').length`)) <= 2 * 22, 'tables summarised beyond a screenful');
    } finally {
      browser.close();
      view.close();
    }
  });

  test('a class of 200, 50 lines a second: Pause and Resume are answered on the page at once', { timeout: 120_000 }, async (t) => {
    const { program, port } = await startServerProgram(['--view', '0', '--max-per-address', '0']);
    const url = (await program.line(/^Loop view: /)).slice('Loop view: '.length);
    const browser = await Browser.open();
    const clients: RawClient[] = [];
    let talking: NodeJS.Timeout | undefined;
    try {
      await browser.goto(url);
      await browser.until('the page running', `${status} === 'running'`);
      for (let at = 0; at < 200; at += 20) {
        clients.push(...(await Promise.all(Array.from({ length: 20 }, (_, each) => RawClient.join(port, `student${at + each}`)))));
      }
      // Ten of them talk, 50 lines a second in all; the others only listen.
      let line = 0;
      talking = setInterval(() => clients[line % 10]!.send(`line ${line++}`), 20);
      await browser.until('the class talking', `newest > 0 && rounds.at(-1)?.actions.some((action) => action.includes('a message, sent to 199 others'))`);
      const answered: number[] = [];
      for (const [button, state] of [
        ['pause', 'held'],
        ['resume', 'running'],
        ['pause', 'held'],
        ['resume', 'running'],
        ['pause', 'held'],
        ['resume', 'running'],
      ] as const) {
        answered.push(
          await browser.evaluate<number>(`new Promise((resolve) => {
            const started = performance.now();
            const status = document.getElementById('status');
            new MutationObserver((_, observer) => {
              if (status.dataset.state !== '${state}') return;
              observer.disconnect();
              resolve(performance.now() - started);
            }).observe(status, { attributes: true });
            document.getElementById('${button}').click();
          })`),
        );
        // Held a moment: the class's lines pile up in the queue meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      t.diagnostic(`clicks answered in ${answered.map((ms) => ms.toFixed(0)).join(', ')} ms`);
      // The page's answer needs the server's too; the bound is loose for a
      // busy machine, and the figures above are what to look at.
      assert.ok(Math.max(...answered) < 1000, `clicks answered in ${answered.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    } finally {
      clearInterval(talking);
      for (const client of clients) client.socket.destroy();
      browser.close();
      program.child.kill('SIGINT');
      await program.exited;
    }
  });
});
