// The loop view's port next to a hostile neighbour: its own small limits on
// connections, on the time to send a request, on event streams and what
// they hold; a refused upload answered and closed unread; the loopback
// names a browser may use.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { LoopHold } from '../src/view/hold.js';
import type { Round } from '../src/view/trace.js';
import { recordingOf } from '../src/view/recording.js';
import { LoopView } from '../src/view/view.js';
import { RawClient, startServerProgram, within } from './helpers/chat.js';
import { NO_DESCRIPTOR_LIST, openDescriptors } from './helpers/system.js';

/** A raw connection to the view's port. */
async function open(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** The status and body of one request, with the headers given. */
function ask(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A round of a given size, as the view would stream it. */
function bigRound(round: number, bytes: number): Round {
  return {
    round,
    at: 0,
    inputs: [],
    inputCount: 0,
    outputs: [],
    outputCount: 0,
    readable: [],
    readableCount: 0,
    writable: [],
    writableCount: 0,
    actions: ['x'.repeat(bytes)],
    waitedMs: 0,
    workedMs: 0,
  };
}

describe("the view's connections", () => {
  test('past the cap each newcomer takes the place of the oldest idle one; idle ones are closed after the header timeout; then the page loads again', async () => {
    const view = await LoopView.start({ port: 0, recording: recordingOf([]), limits: { maxConnections: 4, headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    const sockets = await Promise.all(Array.from({ length: 20 }, () => open(view.port)));
    let closed = 0;
    const allClosed = Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once('close', resolve)).then(() => (closed += 1))));
    // Node closes every one past the cap as it comes.
    await within(
      5000,
      '16 closed at once',
      (async () => {
        while (closed < 16) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
    );
    // The four it kept send nothing: the header timeout closes them.
    await within(5000, 'the idle four closed', allClosed);
    assert.equal((await ask(view.port, `/?token=${view.token}`)).status, 200);
    view.close();
  });

  test('a neighbour holding every connection idle cannot shut out the page with the token, nor push out its stream', async (t) => {
    const view = await LoopView.start({ port: 0, hold: new LoopHold(), limits: { maxConnections: 4, headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    // The neighbour's script: the cap's worth of idle connections, each
    // reopened as soon as it is closed.
    let neighbourGoesOn = true;
    const neighbour = new Set<Socket>();
    const knock = (): void => {
      const socket = connect({ port: view.port, host: '127.0.0.1' });
      socket.on('error', () => {});
      neighbour.add(socket);
      socket.once('close', () => {
        neighbour.delete(socket);
        if (neighbourGoesOn) knock();
      });
    };
    const burst: Socket[] = [];
    t.after(() => {
      neighbourGoesOn = false;
      for (const socket of [...neighbour, ...burst]) socket.destroy();
      view.close();
    });
    for (let each = 0; each < 4; each++) knock();
    await within(
      5000,
      'the neighbour connected',
      (async () => {
        while ([...neighbour].filter((socket) => !socket.connecting).length < 4) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
    );
    // Every load of the page, every command, is answered.
    for (let load = 0; load < 10; load++) {
      assert.equal((await ask(view.port, `/?token=${view.token}`, { headers: { connection: 'close' } })).status, 200, `page load ${load + 1}`);
    }
    const command = await ask(view.port, `/command?token=${view.token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', connection: 'close' },
      body: '{"command":"pause"}',
    });
    assert.equal(command.status, 204, 'Pause answered');
    // The page's stream stays through a burst of the neighbour's connections.
    const stream = await new Promise<IncomingMessage>((resolve, reject) =>
      request({ host: '127.0.0.1', port: view.port, path: `/events?token=${view.token}` }, resolve)
        .on('error', reject)
        .end(),
    );
    let received = '';
    stream.setEncoding('utf8').on('data', (text: string) => (received += text));
    burst.push(...(await Promise.all(Array.from({ length: 20 }, () => open(view.port)))));
    view.add(bigRound(1, 10));
    await within(
      5000,
      'the round after the burst',
      (async () => {
        while (!received.includes('"round":1')) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
    );
    assert.equal(view.streams, 1, 'the stream was not pushed out');
    stream.destroy();
  });

  test('a request whose headers trickle in is closed after the header timeout', async () => {
    const view = await LoopView.start({ port: 0, recording: recordingOf([]), limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    const socket = await open(view.port);
    let reply = '';
    socket.setEncoding('latin1').on('data', (text: string) => (reply += text));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(`GET /?token=${view.token} HTTP/1.1\r\nHost: 127.0.0.1:${view.port}\r\n`);
    const trickle = setInterval(() => socket.write('X'), 50);
    await within(5000, 'the trickling request closed', closed);
    clearInterval(trickle);
    assert.match(reply, /^HTTP\/1\.1 408 Request Timeout\r\n|^$/, 'a 408, or closed without a word');
    view.close();
  });

  test('thousands of idle connections to the view take a few descriptors of the server, and chat goes on', { skip: NO_DESCRIPTOR_LIST }, async () => {
    const { program, port } = await startServerProgram(['--view', '0']);
    const viewUrl = new URL((await program.line(/^Loop view: /)).slice('Loop view: '.length));
    const before = openDescriptors(program.child.pid!);
    const sockets = await Promise.all(Array.from({ length: 1000 }, () => open(Number(viewUrl.port))));
    const alice = await RawClient.join(port, 'alice');
    const during = openDescriptors(program.child.pid!);
    assert.ok(during - before < 64, `${during - before} more descriptors while 1000 connections knocked at the view`);
    alice.end();
    for (const socket of sockets) socket.destroy();
    program.child.kill('SIGINT');
    await program.exited;
  });
});

describe('a refused request with a body', () => {
  /** Sends headers announcing `length` bytes, then streams the body until
   * the server closes; resolves with the reply and what was sent. */
  async function upload(port: number, path: string, length: number): Promise<{ reply: string; sent: number }> {
    const socket = await open(port);
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
    let reply = '';
    socket.setEncoding('latin1').on('data', (text: string) => (reply += text));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    let open_ = true;
    const closed = new Promise((resolve) => socket.once('close', resolve)).then(() => (open_ = false));
    while (open_ && sent < length) {
      if (!socket.write(chunk)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed]);
      sent += chunk.length;
    }
    await closed;
    return { reply, sent };
  }

  test('a POST without the token announcing 200 MB is answered 403 and closed, its body unread', async () => {
    const view = await LoopView.start({ port: 0, hold: new LoopHold() });
    const { reply, sent } = await within(20_000, 'the upload cut off', upload(view.port, '/command', 200_000_000));
    assert.match(reply, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(reply, /\r\nConnection: close\r\n/i);
    assert.ok(sent < 32 * 1024 * 1024, `${(sent / 1024 / 1024).toFixed(1)} MiB sent before the view closed`);
    view.close();
  });

  test('a command announcing more than a command can be is answered 413 and closed, unread', async () => {
    const view = await LoopView.start({ port: 0, hold: new LoopHold() });
    const { reply, sent } = await within(20_000, 'the upload cut off', upload(view.port, `/command?token=${view.token}`, 200_000_000));
    assert.match(reply, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
    assert.ok(sent < 32 * 1024 * 1024, `${(sent / 1024 / 1024).toFixed(1)} MiB sent before the view closed`);
    view.close();
  });
});

describe("the view's event streams", () => {
  test('past the cap a page is answered 503; a page that stops reading is cut off, and its place is free again', async () => {
    const view = await LoopView.start({ port: 0, hold: new LoopHold(), limits: { maxStreams: 2, streamBufferBytes: 256 * 1024, stalledStreamMs: 300 } });
    const path = `/events?token=${view.token}`;
    const reader = request({ host: '127.0.0.1', port: view.port, path });
    const reading = new Promise<void>((resolve) => reader.on('response', (res) => res.once('data', () => resolve()).resume()));
    reader.end();
    await reading;
    // A page that never reads: its socket is never drained.
    const stalled = await open(view.port);
    stalled.pause();
    stalled.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${view.port}\r\n\r\n`);
    await within(
      5000,
      'two streams',
      (async () => {
        while (view.streams < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
    );
    assert.equal((await ask(view.port, path)).status, 503);

    // Rounds of 50 kB each: the stalled page fills its share, then takes
    // nothing for longer than it may.
    let heldAtMost = 0;
    for (let round = 1; view.streams === 2 && round < 10_000; round++) {
      view.add(bigRound(round, 50_000));
      heldAtMost = Math.max(heldAtMost, view.bufferedBytes);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(view.streams, 1, 'the stalled page was cut off; the one that reads stays');
    assert.ok(heldAtMost <= 2 * (256 * 1024 + 60_000), `${heldAtMost} bytes held unsent by two streams`);
    assert.equal(view.bufferedBytes, 0, 'its memory went with it');
    assert.equal(
      await new Promise<number>((resolve) =>
        request({ host: '127.0.0.1', port: view.port, path }, (res) => {
          resolve(res.statusCode ?? 0);
          res.destroy();
        }).end(),
      ),
      200,
      'its place is free',
    );
    reader.destroy();
    stalled.destroy();
    view.close();
  });
});

describe('loopback names', () => {
  test('the page as localhost or [::1] may command; another name, or another origin, may not; nothing listens on [::1]', async () => {
    const hold = new LoopHold();
    const view = await LoopView.start({ port: 0, hold });
    const command = (host: string, origin: string) =>
      ask(view.port, `/command?token=${view.token}`, {
        method: 'POST',
        headers: { host, origin, 'content-type': 'application/json' },
        body: '{"command":"pause"}',
      });
    for (const name of ['localhost', '127.0.0.1', '[::1]']) {
      assert.equal((await command(`${name}:${view.port}`, `http://${name}:${view.port}`)).status, 204, name);
    }
    assert.deepEqual(await command(`rebound.example:${view.port}`, `http://rebound.example:${view.port}`), {
      status: 403,
      body: `the view is reached as 127.0.0.1 or localhost on port ${view.port}, not as rebound.example:${view.port}\n`,
    });
    assert.deepEqual(await command(`localhost:${view.port}`, 'http://evil.example'), {
      status: 403,
      body: 'requests from http://evil.example are not accepted\n',
    });
    // It listens on IPv4 only, as README says: http://[::1]:PORT/ finds nothing.
    const v6 = connect({ port: view.port, host: '::1' });
    const [error] = (await once(v6, 'error')) as [NodeJS.ErrnoException];
    assert.match(error.code ?? '', /^(ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH|EAFNOSUPPORT)$/);
    view.close();
  });
});
