// The loop view in a real browser: headless Chromium, driven over the
// DevTools protocol, watching and holding the server's real loop.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RawClient, startServerProgram } from './helpers/chat.js';
import { Browser, CHROMIUM } from './helpers/inspector.js';

const skip =
  (typeof WebSocket === 'undefined' && 'this Node has no WebSocket client (Node 20 needs --experimental-websocket, which npm test passes)') ||
  (CHROMIUM === undefined && 'no headless Chromium is installed (Debian: apt-get install chromium-headless-shell; .ci/run installs it)');

test('the page shows the rounds and the state; Pause holds the loop while the queue fills; Step runs one round', { skip, timeout: 60_000 }, async () => {
  const { program, port } = await startServerProgram(['--view', '0']);
  const url = (await program.line(/^Loop view: /)).slice('Loop view: '.length);
  const browser = await Browser.open();
  try {
    await browser.goto(url);
    await browser.until('the page running', `document.getElementById('status').textContent === 'running'`);
    const alice = await RawClient.join(port, 'alice');
    const bob = await RawClient.join(port, 'bob');
    await alice.next();
    // The state of the newest round: clientmap with both, and their connections.
    await browser.until(
      'alice and bob in clientmap',
      `document.getElementById('state').textContent.includes('bob') && document.getElementById('state').textContent.includes('alice')`,
    );
    alice.send('hello from alice');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>hello from alice');
    await browser.until("the line's round", `document.getElementById('rounds').textContent.includes('alice@127.0.0.1: a line, sent to 1')`);
    assert.ok(
      await browser.evaluate<boolean>(`document.getElementById('detail').textContent.includes('for output in self.outputs')`),
      'the round is tied to the recipe',
    );

    await browser.evaluate(`document.getElementById('pause').click()`);
    await browser.until('held', `document.getElementById('status').textContent === 'held before select()'`);
    // The loop finishes the round it is in (bob's line), then holds.
    bob.send('one');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>one');
    await browser.until("bob's round", `document.getElementById('rounds').textContent.includes('bob@127.0.0.1: a line')`);
    const roundsHeld = await browser.evaluate<number>(`document.getElementById('rounds').children.length`);
    bob.send('two, while held');
    await browser.until('the queue growing', `document.getElementById('queued').textContent.includes('bob@127.0.0.1')`);
    assert.equal(await browser.evaluate<number>(`document.getElementById('rounds').children.length`), roundsHeld, 'no round ran while held');

    await browser.evaluate(`document.getElementById('step').click()`);
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>two, while held');
    await browser.until('one more round', `document.getElementById('rounds').children.length === ${roundsHeld + 1}`);
    await browser.evaluate(`document.getElementById('resume').click()`);
    await browser.until('running again', `document.getElementById('status').textContent === 'running'`);
    alice.send('after resume');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>after resume');
  } finally {
    browser.close();
    program.child.kill('SIGINT');
    await program.exited;
  }
});
