// What the loop view's browser tests share: whether they can run, the
// page's status line, a busy class's rounds and feeding them to a page,
// and the page's heap (test/view-browser.test.ts, test/view-browser-class.test.ts).

import type { Round } from '../../src/view/trace.js';
import type { LoopView } from '../../src/view/view.js';
import { noBrowser } from './browser.js';
import type { Browser } from './inspector.js';

/** Why the browser tests cannot run here, if they cannot. */
export const skip =
  (typeof WebSocket === 'undefined' && 'this Node has no WebSocket client (Node 20 needs --experimental-websocket, which npm test passes)') || noBrowser();

/** An expression: the page's status line. */
export const status = `document.getElementById('status').textContent`;

/** A round like a busy class's: 200 connections in its state. */
export function classRound(round: number): Round {
  const names = Array.from({ length: 200 }, (_, at) => `student${at}@127.0.0.1`);
  return {
    round,
    at: Date.now(),
    inputs: ['server', 'stdin', ...names.slice(0, 62)],
    inputCount: 202,
    outputs: [],
    outputCount: 0,
    readable: [names[round % 200]!],
    readableCount: 1,
    writable: [],
    writableCount: 0,
    actions: [`${names[round % 200]}: a message, sent to 199 others`],
    waitedMs: 3,
    workedMs: 1,
    heldMs: 0,
    state: {
      inputs: ['server', 'stdin', ...names],
      outputs: names,
      clientmap: names.map((name) => ({ name: name.split('@')[0]!, address: '127.0.0.1', shape: 'str' })),
      connections: names.map((name) => ({ name, inbox: 0, outbox: round % 7 })),
    },
  };
}

/** Rounds fed to a page at once by feed(). */
const FEED_BATCH = 64;
/** An event's bytes around its round: `event: round`, `data: ` and the blank line, with room to spare. */
const EVENT_LINES_BYTES = 64;

/** The view's limits for feed(): a stream that holds a batch of a busy
 * class's rounds unsent (the default holds 8 of them). A batch costs a
 * round trip to the page, and the page takes some 40 ms to hear an event
 * in headless Chromium: batches of 8 would make 4,000 rounds half a minute. */
export const FEED_LIMITS = { streamBufferBytes: FEED_BATCH * (Buffer.byteLength(JSON.stringify(classRound(99_999))) + EVENT_LINES_BYTES) };

/** Adds rounds to a view started with FEED_LIMITS, a batch at a time,
 * each batch once the page has drawn the last. */
export async function feed(view: LoopView, browser: Browser, from: number, to: number): Promise<void> {
  for (let round = from; round <= to; round += FEED_BATCH) {
    const last = Math.min(to, round + FEED_BATCH - 1);
    for (let each = round; each <= last; each++) view.add(classRound(each));
    await browser.until(`round ${last} drawn`, `newest === ${last} && arrived.length === 0`);
  }
}

/** The page's JavaScript heap after a collection, in MB. */
export async function heapMb(browser: Browser): Promise<number> {
  await browser.page.send('HeapProfiler.collectGarbage');
  const { usedSize } = await browser.page.send('Runtime.getHeapUsage');
  return usedSize / 1024 / 1024;
}
