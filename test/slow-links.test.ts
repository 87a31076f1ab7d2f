// Members on slow links: their frames arrive a byte or a few at a time,
// and what the server keeps of them must cost about what they sent.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { frame } from '../src/wire/wire.js';
import { chatPair, RawClient, startServer, stillChatting, within } from './helpers/chat.js';

test('frames that come a byte at a time cost their bytes: slow links are not charged a kilobyte a read, and nobody is dropped', async () => {
  // The smallest budget the server allows: a frame's worth (1 MiB). Were
  // each one-byte read kept as a Buffer of its own and charged as one (about
  // 1 KB), each member's 1,500-byte frame would be charged 1.5 MB.
  const chat = await startServer({ inputBudget: 1024 * 1024, maxPerAddress: 0 });
  const { alice, bob } = await chatPair(chat.port);
  const MEMBERS = 4;
  const members: RawClient[] = [];
  for (let m = 0; m < MEMBERS; m++) members.push(await RawClient.join(chat.port, `slow${m}`));
  for (const member of members) member.socket.setNoDelay(true);
  const text = (m: number) => `${m} `.padEnd(1500, 'x');
  const trickles = members.map(async (member, m) => {
    const bytes = frame(text(m));
    // A byte a write, a millisecond apart: each reaches the server as a read of its own.
    for (let at = 0; at < bytes.length; at++) {
      member.socket.write(bytes.subarray(at, at + 1));
      await delay(1);
    }
  });
  // Alice and Bob chat while the frames trickle in.
  const chatting = (async () => {
    for (let n = 0; n < 20; n++) await stillChatting(alice, bob, { skipOthers: true }, `line ${n}`);
  })();
  await Promise.all([...trickles, chatting]);
  // Every member's frame is relayed whole to Bob.
  const expected = new Set(members.map((_, m) => `\n#[slow${m}@127.0.0.1]>>${text(m)}`));
  await within(
    20_000,
    'the slow members relayed',
    (async () => {
      while (expected.size > 0) {
        const message = await bob.next();
        assert.notEqual(message, undefined, 'bob was closed');
        expected.delete(message!);
      }
    })(),
  );
  assert.deepEqual(
    chat.logged.filter((line) => line.includes('dropping')),
    [],
  );
  await chat.stop();
});
