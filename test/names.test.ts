// What a name may hold, and what text the server relays: nobody may show up
// as somebody else, and nothing a peer says is relayed as a control.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { frame } from '../src/wire.js';
import { RawClient, startServer } from './helpers/chat.js';

describe('names', () => {
  let chat: Awaited<ReturnType<typeof startServer>>;
  let watcher: RawClient;
  before(async () => {
    chat = await startServer();
    watcher = await RawClient.join(chat.port, 'watcher');
  });
  after(() => chat.stop());

  const refused: [string, string, string][] = [
    ['a right-to-left override', 'eve\u202Enimda', 'U+202E'],
    ['a bidi isolate', 'eve\u2067admin', 'U+2067'],
    ['a zero-width space', 'ad\u200Bmin', 'U+200B'],
    ['a line separator', 'eve\u2028#[admin@127.0.0.1]>>hi', 'U+2028'],
    ['a paragraph separator', 'eve\u2029x', 'U+2029'],
    ["the broadcast's delimiters", 'admin@10.0.0.1]>>I am the admin. #[x', '"@"'],
    ['a closing bracket', 'admin]>>hi', '"]"'],
    ['an opening bracket', 'x[admin', '"["'],
    ['an escape', 'evil\u001b[2J', 'U+001B'],
    ['a C1 control', 'evil\u009b2J', 'U+009B'],
    ['DEL', 'evil\u007f', 'U+007F'],
    ['a byte-order mark inside', 'ad\uFEFFmin', 'U+FEFF'],
  ];
  for (const [what, name, shown] of refused) {
    test(`refused: ${what}`, async () => {
      const stranger = await RawClient.connect(chat.port);
      stranger.send(`NAME: ${name}`);
      assert.equal(await stranger.expectRefused(), `name contains ${shown}, which names may not hold`);
    });
  }

  const accepted: [string, string][] = [
    ['accents', 'Zoë Ångström-Müller'],
    ['CJK', '李小龍'],
    ['emoji', 'party 🎉🦄'],
    ['Arabic, written normally', 'مرحبا'],
    ['Hebrew, written normally', 'שלום עולם'],
    ['spaces inside', 'mary ann'],
    ['64 characters, counted as code points', '😀'.repeat(64)],
  ];
  for (const [what, name] of accepted) {
    test(`accepted: ${what}`, async () => {
      const client = await RawClient.join(chat.port, name);
      assert.match(
        (await watcher.next())!,
        new RegExp(`^\\n\\(Connected: New client \\(\\d+\\) from ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@127\\.0\\.0\\.1\\)$`),
      );
      client.end();
      assert.equal(await watcher.next(), `\n(Now hung up: Client from ${name}@127.0.0.1)`);
    });
  }
});

describe('text the server relays', () => {
  test('control characters are relayed visibly; ordinary text exactly', async () => {
    const chat = await startServer();
    const alice = await RawClient.join(chat.port, 'alice');
    const bob = await RawClient.join(chat.port, 'bob');
    await alice.next();
    const lines: [string, string][] = [
      ['\u001b]0;pwned\u0007\u001b[2J', '^[]0;pwned^G^[[2J'],
      ['\r#[admin@127.0.0.1]>>run this', '^M#[admin@127.0.0.1]>>run this'],
      ['one\ntwo\u2028three', 'one^Jtwo<U+2028>three'],
      ['\u202Eevil \u009b1m', '<U+202E>evil <U+009B>1m'],
      ['café 你好 👩‍👩‍👧 שלום', 'café 你好 👩‍👩‍👧 שלום'],
    ];
    for (const [said] of lines) alice.writeRaw(frame(said));
    for (const [, relayed] of lines) assert.equal(await bob.next(), `\n#[alice@127.0.0.1]>>${relayed}`);
    await chat.stop();
  });
});
