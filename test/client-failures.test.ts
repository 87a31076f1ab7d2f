// The client against servers that fail it: one that never answers, answers
// with garbage, closes mid-frame, refuses the newcomer or drops it, or will
// not relay a line. Each gets one line on stderr that says what happened,
// and an exit status that does not hide it.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { frame } from '../src/wire/wire.js';
import { clientOfHandMadeServer, firstFrame, within } from './helpers/chat.js';

describe('scripts/client.ts against a server that fails it', () => {
  test('a server that accepts and never answers: given up after --handshake-timeout, exit 1', async (t) => {
    const { port, client, named } = await clientOfHandMadeServer(t, ['--handshake-timeout', '1']);
    client.child.stdin.end('hello\n');
    const socket = await named();
    const started = Date.now();
    assert.deepEqual(await within(10_000, 'the client giving up', client.exited), { code: 1, signal: null });
    const waited = Date.now() - started;
    assert.ok(waited >= 900 && waited < 5000, `gave up after ${waited} ms`);
    assert.deepEqual(client.output, [`Failed to connect to chat server @ port ${port}`], 'never "Now connected"');
    assert.equal(client.stderr, 'Why: the server did not answer the name within 1 s (--handshake-timeout)\n');
    socket.destroy();
  });

  test('a server that closes without a word', async (t) => {
    const { port, client, named } = await clientOfHandMadeServer(t);
    (await named()).end();
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.deepEqual(client.output, [`Failed to connect to chat server @ port ${port}`]);
    assert.equal(
      client.stderr,
      'Why: the server closed the connection without answering the name (a server that gives no reasons may have refused the name, or been full)\n',
    );
  });

  test('a server that closes in the middle of its answer', async (t) => {
    const { port, client, named } = await clientOfHandMadeServer(t);
    const socket = await named();
    socket.end(frame('CLIENT: 127.0.0.1').subarray(0, 12));
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.deepEqual(client.output, [`Failed to connect to chat server @ port ${port}`]);
    assert.equal(client.stderr, 'Why: the server answered the name with a malformed message: frame cut off by end of stream\n');
  });

  test('a server that answers the name with a frame of something else', async (t) => {
    const { client, named } = await clientOfHandMadeServer(t);
    (await named()).write(frame('HELLO \x1b[2J'));
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.equal(client.stderr, 'Why: the server answered the name with "HELLO ^[[2J", not "CLIENT: <address>"\n');
  });

  test('a server that answers the name with no frame at all', async (t) => {
    const { client, named } = await clientOfHandMadeServer(t);
    (await named()).write('HTTP/1.1 400 Bad Request\r\n\r\n');
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.equal(client.stderr, 'Why: the server answered the name with a malformed message: frame header bytes 4-7 must be zero, got 2f312e31\n');
  });

  test('a server that refuses the newcomer, its reason sent with the answer: no "Now connected"', async (t) => {
    const { port, client, named } = await clientOfHandMadeServer(t);
    const socket = await named();
    socket.end(Buffer.concat([frame('CLIENT: 127.0.0.1'), frame('\n(Refused: the room is full (2 clients))')]));
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.deepEqual(client.output, [`Failed to connect to chat server @ port ${port}`]);
    assert.equal(client.stderr, 'Why: the server refused this client: the room is full (2 clients)\n');
  });

  test('a refusal that comes after the answer', async (t) => {
    const { port, client, named } = await clientOfHandMadeServer(t);
    const socket = await named();
    socket.write(frame('CLIENT: 127.0.0.1'));
    await client.line(/^Now connected/);
    socket.end(frame('\n(Refused: the name "alice" is in use)'));
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.deepEqual(client.output, [`Now connected to chat server@ port ${port}`, `Failed to connect to chat server @ port ${port}`]);
    assert.equal(client.stderr, 'Why: the server refused this client: the name "alice" is in use\n');
  });

  test('a server that drops the client says why; the client exits 1', async (t) => {
    const { port, client, named } = await clientOfHandMadeServer(t);
    client.child.stdin.end();
    const socket = await named();
    socket.write(frame('CLIENT: 127.0.0.1'));
    await client.line(/^Now connected/);
    socket.write(frame('\n#[bob@127.0.0.1]>>hi'));
    socket.end(frame('\n(Dropped: frame of 1572880 bytes is over the 1 MiB limit)'));
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.deepEqual(client.output, [`Now connected to chat server@ port ${port}`, '', '#[bob@127.0.0.1]>>hi', 'Client shutting down.']);
    assert.equal(client.stderr, 'Why: the server dropped this client: frame of 1572880 bytes is over the 1 MiB limit\n');
  });

  test('a line the server will not relay is named on stderr; the client goes on, and exits 1 at the end', async (t) => {
    const { client, named } = await clientOfHandMadeServer(t);
    const socket = await named();
    socket.write(frame('CLIENT: 127.0.0.1'));
    client.child.stdin.write('too big, say\n');
    assert.equal((await firstFrame(socket)).includes('too big, say'), true);
    socket.write(frame('\n(Not relayed: as relayed it would be a frame of 1048600 bytes, over the limit of 1048576)'));
    assert.equal(
      await client.errorLine(/Not relayed/),
      'Not relayed by the server: as relayed it would be a frame of 1048600 bytes, over the limit of 1048576',
    );
    client.child.stdin.end('next\n');
    assert.equal((await firstFrame(socket)).includes('next'), true, 'the next line is sent');
    socket.write(frame('\n#[bob@127.0.0.1]>>still here'));
    // The client's end of output first: then the server's close means it took everything.
    await once(socket.resume(), 'end');
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    assert.deepEqual(client.output.slice(-2), ['', '#[bob@127.0.0.1]>>still here']);
    assert.equal(client.stderr.split('\n').at(-2), 'Why: 1 line of 2 not delivered (the reasons are above)');
  });
});
