// The client's output read by a program that stops reading and goes, as
// `npx tsx scripts/client.ts --name x | head -n 2` does once it has its two
// lines: the client leaves quietly with the status a Unix tool has when its
// reader goes (141, as for `cat` ended by SIGPIPE), never with a stack trace.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EXIT_READER_GONE } from '../src/room/client.js';
import { ChildProgram, RawClient, startServer, within } from './helpers/chat.js';

describe('scripts/client.ts when the reader of its output goes', () => {
  let chat: Awaited<ReturnType<typeof startServer>>;
  let bob: RawClient;

  before(async () => {
    chat = await startServer();
    bob = await RawClient.join(chat.port, 'bob');
  });
  after(async () => {
    await chat.stop();
  });

  /** What bob hears next about `name`, skipping the others' comings and goings. */
  async function heard(name: string): Promise<string | undefined> {
    for (;;) {
      const message = await bob.next();
      if (message === undefined || message.includes(`${name}@127.0.0.1`)) return message;
    }
  }

  /** A client named `name` in the room, its input a pipe left open, and
   * the first message bob sends read from its output. */
  async function joined(name: string, extra: string[] = []): Promise<ChildProgram> {
    const client = ChildProgram.start('scripts/client.ts', ['--name', name, '--port', String(chat.port), ...extra]);
    assert.equal(await client.line(/^Now connected/), `Now connected to chat server@ port ${chat.port}`);
    assert.match((await heard(name))!, /^\n\(Connected: New client/);
    bob.send('the room talks');
    assert.equal(await client.line(/^#\[bob/), '#[bob@127.0.0.1]>>the room talks');
    return client;
  }

  /** The room talks on; the client must leave with EXIT_READER_GONE, say
   * nothing, and hang up on the server as a client that leaves does. */
  async function leavesQuietly(client: ChildProgram, name: string): Promise<void> {
    bob.send('the room talks on');
    const exit = await within(10_000, 'the client leaving', client.exited);
    assert.deepEqual(exit, { code: EXIT_READER_GONE, signal: null }, client.stderr);
    assert.doesNotMatch(client.stderr, /Error|EPIPE|at /, 'no stack trace');
    assert.equal(await heard(name), `\n(Now hung up: Client from ${name}@127.0.0.1)`);
  }

  test('stdout closed by its reader: exit 141, nothing said, no stack trace', async () => {
    const client = await joined('piped');
    client.child.stdout.destroy();
    await leavesQuietly(client, 'piped');
    assert.equal(client.stderr, '');
  });

  test('stdout and stderr closed together (2>&1 | head): exit 141, no crash', async () => {
    const client = await joined('both');
    client.child.stdout.destroy();
    client.child.stderr.destroy();
    await leavesQuietly(client, 'both');
  });

  test('stderr closed under --trace, which writes there every round: exit 141, no crash', async () => {
    const client = await joined('traced', ['--trace']);
    client.child.stderr.destroy();
    await leavesQuietly(client, 'traced');
  });
});
