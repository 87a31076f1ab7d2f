import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChildProgram, RawClient, startServerProgram } from './helpers/chat.js';

/** Resolves with how long the program took to exit after `since`. */
async function exitsWithin(program: ChildProgram, since: number) {
  const { code, signal } = await program.exited;
  return { code, signal, elapsedMs: Date.now() - since };
}

describe('scripts/server.ts', () => {
  test('--help says how to use it', async () => {
    const program = ChildProgram.start('scripts/server.ts', ['--help']);
    assert.deepEqual(await program.exited, { code: 0, signal: null });
    const help = program.output.join('\n');
    for (const flag of ['--port', '--host', '--backlog', '--handshake-timeout', '--max-frame-size', '--max-name-length', '--max-clients', '--output-soft-limit', '--output-hard-limit', '--slow-client-grace']) {
      assert.ok(help.includes(flag), `--help mentions ${flag}`);
    }
  });

  test('SIGINT closes every client and exits 0 within a second', async () => {
    const { program, port } = await startServerProgram();
    const alice = await RawClient.join(port, 'alice');
    const bob = await RawClient.join(port, 'bob');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
    const sent = Date.now();
    program.child.kill('SIGINT');
    await program.line(/^Shutting down server\.\.\.$/);
    await Promise.all([alice.expectClosed(), bob.expectClosed()]);
    const exit = await exitsWithin(program, sent);
    assert.deepEqual([exit.code, exit.signal], [0, null]);
    assert.ok(exit.elapsedMs < 1000, `exited after ${exit.elapsedMs} ms`);
  });

  test('SIGTERM stops it the same way', async () => {
    const { program, port } = await startServerProgram();
    const alice = await RawClient.join(port, 'alice');
    program.child.kill('SIGTERM');
    await program.line(/^Shutting down server\.\.\.$/);
    await alice.expectClosed();
    assert.deepEqual(await program.exited, { code: 0, signal: null });
  });

  test('a line typed on its console stops it', async () => {
    const { program, port } = await startServerProgram();
    const alice = await RawClient.join(port, 'alice');
    program.child.stdin.write('\n');
    await program.line(/^Shutting down server\.\.\.$/);
    await alice.expectClosed();
    assert.deepEqual(await program.exited, { code: 0, signal: null });
  });

  test('end of input on its console does not stop it', async () => {
    const { program, port } = await startServerProgram();
    program.child.stdin.end();
    // Chatting after stdin has ended shows the server is still serving.
    const alice = await RawClient.join(port, 'alice');
    const bob = await RawClient.join(port, 'bob');
    bob.send('still up');
    assert.equal(await alice.next(), '\n(Connected: New client (2) from bob@127.0.0.1)');
    assert.equal(await alice.next(), '\n#[bob@127.0.0.1]>>still up');
    program.child.kill('SIGINT');
    assert.deepEqual(await program.exited, { code: 0, signal: null });
  });

  test('a port in use is one line and exit code 1', async () => {
    const { program: first, port } = await startServerProgram();
    const second = ChildProgram.start('scripts/server.ts', ['--port', String(port)]);
    assert.deepEqual(await second.exited, { code: 1, signal: null });
    assert.equal(second.stderr, `Cannot listen on 127.0.0.1:${port}: port ${port} is already in use\n`);
    assert.deepEqual(second.output, []);
    first.child.kill('SIGINT');
    await first.exited;
  });

  test('a bad flag value is one line and exit code 1', async () => {
    const program = ChildProgram.start('scripts/server.ts', ['--port', 'eighty']);
    assert.deepEqual(await program.exited, { code: 1, signal: null });
    assert.equal(program.stderr, '--port takes a whole number from 0 to 65535, not "eighty"\n');
  });
});
