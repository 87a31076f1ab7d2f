// `npm run screenshot`: makes docs/loop-view.png, the picture of the loop
// view in the README, from a real run: a server with the view, two clients
// that chat, and a headless Chromium that takes the picture. Run it again
// whenever the page changes.

import { writeFileSync } from 'node:fs';
import { Browser } from '../test/helpers/inspector.js';
import { RawClient, startServerProgram } from '../test/helpers/chat.js';

async function main(): Promise<void> {
  const { program, port } = await startServerProgram(['--view', '0']);
  const url = (await program.line(/^Loop view: /)).slice('Loop view: '.length);
  const browser = await Browser.open();
  try {
    // A classroom projector's screen.
    await browser.page.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 800, deviceScaleFactor: 1, mobile: false });
    await browser.goto(url);
    const alice = await RawClient.join(port, 'alice');
    const bob = await RawClient.join(port, 'bob');
    await alice.next();
    alice.send('Hello bob! One select() loop serves us both.');
    await bob.next();
    bob.send('And it sleeps when nobody talks.');
    await alice.next();
    await browser.until("bob's line", `document.getElementById('rounds').textContent.includes('bob@127.0.0.1: a line')`);
    // Held in select(), with a line waiting in the queue: the picture a
    // class remembers. The loop sleeps, so Pause holds it at once, and the
    // line that would wake it waits.
    await browser.evaluate(`document.getElementById('pause').click()`);
    await browser.until('held', `document.getElementById('status').dataset.state === 'held'`);
    alice.send('Is anybody there?');
    await browser.until('the queue', `document.getElementById('queued').textContent.includes('alice@127.0.0.1')`);
    await browser.evaluate(`[...document.getElementById('rounds').children].find((item) => item.textContent.includes('bob@127.0.0.1: a line')).click()`);
    const { data } = await browser.page.send('Page.captureScreenshot', { format: 'png' });
    writeFileSync('docs/loop-view.png', Buffer.from(data, 'base64'));
    console.log('docs/loop-view.png written');
    alice.socket.destroy();
    bob.socket.destroy();
  } finally {
    browser.close();
    program.child.kill('SIGINT');
    await program.exited;
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
