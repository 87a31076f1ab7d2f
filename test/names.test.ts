// What a name may hold, and what text the server relays: nobody may show up
// as somebody else, and nothing a peer says is relayed as a control.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { frame } from '../src/wire/wire.js';
import { ChildProgram, RawClient, startServer, startServerProgram } from './helpers/chat.js';
import { NO_PYTHON3 } from './helpers/python.js';

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

describe('one name per person', () => {
  test('a name in use is refused, and logged; each handshake is logged with its name; a name let go is free again', async () => {
    const chat = await startServer();
    const alice = await RawClient.join(chat.port, 'alice');
    assert.match(await chat.logLine(/joined/), /^Chat server: connection \d+ joined as alice@127\.0\.0\.1$/);
    const bob = await RawClient.join(chat.port, 'bob');
    assert.match(await chat.logLine(/joined/), /^Chat server: connection \d+ joined as bob@127\.0\.0\.1$/);
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
    const impostor = await RawClient.connect(chat.port);
    impostor.send('NAME: alice');
    assert.equal(await impostor.expectRefused(), 'the name "alice" is in use');
    assert.match(await chat.logLine(/refused/), /^Chat server: refused connection \d+ from 127\.0\.0\.1: the name "alice" is in use$/);
    // The room heard nothing of the impostor: the next thing Bob hears is Alice.
    alice.send('still the only alice');
    assert.equal(await bob.next(), '\n#[alice@127.0.0.1]>>still the only alice');
    alice.end();
    assert.equal(await bob.next(), '\n(Now hung up: Client from alice@127.0.0.1)');
    const next = await RawClient.join(chat.port, 'Alice');
    assert.equal(await bob.next(), '\n(Connected: New client (2) from Alice@127.0.0.1)');
    next.end();
    await chat.stop();
  });

  // Each case: a holder joins (if any), then the name is refused, with the reason.
  const blank = 'name shows nothing: every character in it is drawn blank';
  const pairs: [string, string | null, string, string][] = [
    ['precomposed and decomposed', 'Zo\u00eb', 'Zoe\u0308', 'the name "Zoe\u0308" is in use'],
    ['upper and lower case', 'alice', 'ALICE', 'the name "ALICE" is in use'],
    ['ß and SS (case folding, not just lower case)', 'straße', 'STRASSE', 'the name "STRASSE" is in use'],
    ['a ligature and its letters (NFKC)', 'ﬁona', 'fiona', 'the name "fiona" is in use'],
    ['full-width letters (NFKC)', 'eve', 'ｅｖｅ', 'the name "ｅｖｅ" is in use'],
    ['a Cyrillic а in a Latin name', 'admin', '\u0430dmin', 'name mixes Cyrillic and Latin letters'],
    ['a Greek letter in a Latin name', 'zeus', '\u0396eus', 'name mixes Greek and Latin letters'],
    ['a combining grapheme joiner (default-ignorable)', 'bob', 'bo\u034Fb', 'name contains U+034F, which names may not hold'],
    ['a variation selector inside', 'carol', 'car\uFE0Fol', 'name contains U+FE0F, which names may not hold'],
    ['nothing visible: U+3164 HANGUL FILLER', null, '\u3164', blank],
    ['nothing visible: two U+2800 BRAILLE PATTERN BLANK', null, '\u2800\u2800', blank],
    ['nothing visible: U+115F HANGUL CHOSEONG FILLER', null, '\u115F', blank],
    ['nothing visible: fillers between spaces', null, ' \u3164 \u3164 ', blank],
  ];
  for (const [what, first, second, reason] of pairs) {
    test(`refused: ${what}`, async () => {
      const chat = await startServer();
      const holder = first === null ? null : await RawClient.join(chat.port, first);
      const other = await RawClient.connect(chat.port);
      other.send(`NAME: ${second}`);
      assert.equal(await other.expectRefused(), reason);
      holder?.end();
      await chat.stop();
    });
  }

  const mixtures: [string, string][] = [
    ['Latin with Han', 'Tanaka 田中'],
    ['Japanese: kana with Han', 'すずき 鈴木'],
    ['Korean: Hangul, with Latin', '김민준 Kim'],
    ['Cyrillic alone', 'Дмитрий'],
    ['Greek alone', 'Ζεύς'],
    ['Latin with digits and punctuation', 'R2-D2 (droid)'],
  ];
  for (const [what, name] of mixtures) {
    test(`accepted: ${what}`, async () => {
      const chat = await startServer();
      const client = await RawClient.join(chat.port, name);
      client.end();
      await chat.stop();
    });
  }
});

describe('a name in use, as the clients show it', () => {
  const noPython = NO_PYTHON3 && `${NO_PYTHON3}, so there is no Python original to run`;

  test('the Python original prints the refusal, in either pickle shape, and so does ours', { skip: noPython }, async () => {
    const { program, port } = await startServerProgram();
    const alice = await RawClient.join(port, 'alice');
    try {
      for (const shape of ['str', 'tuple']) {
        const python = ChildProgram.python(['--name', 'alice', '--port', String(port), '--shape', shape]);
        await python.line(/^\(Refused: the name "alice" is in use\)$/);
        await python.line(/^\[alice@127\.0\.0\.1\]> Client shutting down\.$/);
        assert.equal((await python.exited).code, 0, python.stderr);
      }
      const ours = ChildProgram.start('scripts/client.ts', ['--name', 'alice', '--port', String(port)]);
      await ours.exited;
      assert.match(`${ours.output.join('\n')}\n${ours.stderr}`, /the name "alice" is in use/);
    } finally {
      alice.end();
      program.child.kill('SIGINT');
      await program.exited;
    }
  });
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
