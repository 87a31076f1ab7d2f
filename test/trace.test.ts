import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { frame } from '../src/wire/wire.js';
import { header } from './helpers/frames.js';
import { ChildProgram, firstFrame, handMadeServer, RawClient, ROOT, startServerProgram } from './helpers/chat.js';
import { NO_SH, NO_SIGNALS } from './helpers/system.js';

/** Why a test that runs a program with its stdout and stderr in one pipe,
 * as a terminal shows them both, is skipped here: it takes `sh -c` (Node
 * gives a child one pipe for the two only through a shell). */
const NO_ONE_PIPE = NO_SH && `${NO_SH}: it puts stdout and stderr into one pipe`;

// --trace prints one line per round of the select() loop on stderr.

describe('--trace', () => {
  test('the server shows what select() was given, what came back and what the round did', async () => {
    const { program, port } = await startServerProgram(['--trace']);
    const alice = await RawClient.join(port, 'alice');
    assert.match(
      await program.errorLine(/accepted/),
      /^round \d+: select\(in: server stdin; out: -\) -> readable: server \| server: accepted connection 1 from 127\.0\.0\.1/,
    );
    assert.match(await program.errorLine(/now alice/), /connection 1: a message, answered, now alice@127\.0\.0\.1$/);
    const bob = await RawClient.join(port, 'bob');
    assert.match(await program.errorLine(/now bob/), /connection 2: a message, answered, now bob@127\.0\.0\.1, sent to alice@127\.0\.0\.1$/);
    alice.send('hello');
    assert.match(
      await program.errorLine(/readable: alice/),
      /^round \d+: select\(in: server stdin alice@127\.0\.0\.1 bob@127\.0\.0\.1; out: -\) -> readable: alice@127\.0\.0\.1 \| alice@127\.0\.0\.1: a message, sent to bob@127\.0\.0\.1$/,
    );
    bob.end();
    assert.match(
      await program.errorLine(/end of stream/),
      /readable: bob@127\.0\.0\.1 \| bob@127\.0\.0\.1: end of stream, closed, sent to alice@127\.0\.0\.1$/,
    );
    program.stopByConsole();
    assert.match(
      await program.errorLine(/stdin/),
      /^round \d+: select\(in: server stdin alice@127\.0\.0\.1; out: -\) -> readable: stdin \| stdin: a line, stopping$/,
    );
    await program.exited;
  });

  test('the trace says what the loop did when it was not a plain relay: a refusal, a line not relayed, a frame over the limit', async () => {
    const { program, port } = await startServerProgram(['--trace', '--max-frame-size', '200']);
    const alice = await RawClient.join(port, 'alice');
    await program.errorLine(/now alice/);
    const impostor = await RawClient.connect(port);
    impostor.send('NAME: alice');
    assert.equal(await impostor.expectRefused(), 'the name "alice" is in use');
    assert.match(await program.errorLine(/readable: connection 2 /), /\| connection 2: a message, answered \(2 frames\), closed$/);
    alice.send('x'.repeat(190));
    assert.match((await alice.next()) ?? '', /^\n\(Not relayed: /);
    assert.match(await program.errorLine(/readable: alice/), /\| alice@127\.0\.0\.1: a message, answered$/);
    const bob = await RawClient.join(port, 'bob');
    await program.errorLine(/now bob/);
    bob.writeRaw(header(300));
    assert.match(
      await program.errorLine(/readable: bob/),
      /\| bob@127\.0\.0\.1: a bad frame \(frame of 300 bytes is over the limit of 200\), answered, closed, sent to alice@127\.0\.0\.1$/,
    );
    program.stopByConsole();
    await program.exited;
  });

  test('a signal while select() waits ends the round with nothing readable', { skip: NO_SIGNALS }, async () => {
    const { program, port } = await startServerProgram(['--trace']);
    const alice = await RawClient.join(port, 'alice');
    await program.errorLine(/now alice/);
    program.child.kill('SIGINT');
    assert.match(
      await program.errorLine(/interrupted/),
      /^round \d+: select\(in: server stdin alice@127\.0\.0\.1; out: -\) -> readable: - \| interrupted, stopping$/,
    );
    await program.exited;
    alice.end();
  });

  test('the trace and the log read in the order things happened, in one terminal', { skip: NO_SIGNALS || NO_ONE_PIPE }, async () => {
    // stdout and stderr into one pipe, as a terminal shows them both.
    const child = spawn('sh', ['-c', 'exec "$0" "$@" 2>&1', process.execPath, '--import', 'tsx', 'scripts/server.ts', '--port', '0', '--trace'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    const program = new ChildProgram(child);
    const port = Number(/\d+/.exec(await program.line(/^Server listening to port: \d+ \.\.\.$/))![0]);
    const alice = await RawClient.join(port, 'alice');
    const bob = await RawClient.join(port, 'bob');
    bob.end();
    await program.line(/^Chat server: 2 hung up$/);
    program.child.kill('SIGINT');
    await program.exited;
    alice.end();
    const said = program.output;
    const at = (pattern: RegExp) => {
      const index = said.findIndex((line) => pattern.test(line));
      assert.ok(index >= 0, `${pattern} in:\n${said.join('\n')}`);
      return index;
    };
    // Each round's trace line, then what the round logged.
    assert.ok(at(/^round \d+: .*server: accepted connection 1 from/) < at(/^Chat server: got connection 1 from/), said.join('\n'));
    assert.ok(at(/^round \d+: .*server: accepted connection 2 from/) < at(/^Chat server: got connection 2 from/), said.join('\n'));
    assert.ok(at(/^round \d+: .*bob@127\.0\.0\.1: end of stream, closed, sent to alice@127\.0\.0\.1$/) < at(/^Chat server: 2 hung up$/), said.join('\n'));
    // A signal comes while select() waits: said at once, before the round it ends.
    assert.ok(at(/^Shutting down server\.\.\.$/) < at(/^round \d+: .*\| interrupted, stopping$/), said.join('\n'));
  });

  test("the client's trace and what it prints read in the order things happened, in one terminal", { skip: NO_ONE_PIPE }, async () => {
    const { program: server, port } = await startServerProgram();
    const bob = await RawClient.join(port, 'bob');
    // stdout and stderr into one pipe, as a terminal shows them both.
    const child = spawn(
      'sh',
      ['-c', 'exec "$0" "$@" 2>&1', process.execPath, '--import', 'tsx', 'scripts/client.ts', '--name', 'alice', '--port', String(port), '--trace'],
      { cwd: ROOT, stdio: 'pipe' },
    );
    const client = new ChildProgram(child);
    assert.equal(await bob.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
    // Once alice has read the reply to her name: bob's line is a round of its own.
    await client.line(/^Now connected/);
    bob.send('hi from bob');
    await client.line(/^#\[bob@127\.0\.0\.1\]>>hi from bob$/);
    // The server goes while the client's input is still open: the client
    // says so, and why on stderr, and leaves.
    server.stopByConsole();
    await server.exited;
    assert.deepEqual(await client.exited, { code: 1, signal: null });
    const said = client.output;
    const at = (pattern: RegExp) => {
      const index = said.findIndex((line) => pattern.test(line));
      assert.ok(index >= 0, `${pattern} in:\n${said.join('\n')}`);
      return index;
    };
    // Each round's trace line, then what the round printed.
    assert.ok(at(/^round 1: .*\| server: a message$/) < at(/^Now connected to chat server@ port \d+$/), said.join('\n'));
    assert.ok(at(/^round \d+: select\(in: stdin server; .*\| server: a message$/) < at(/^#\[bob@127\.0\.0\.1\]>>hi from bob$/), said.join('\n'));
    assert.ok(at(/^round \d+: .*\| server: end of stream$/) < at(/^Client shutting down\.$/), said.join('\n'));
    assert.ok(at(/^Client shutting down\.$/) < at(/^Why: the server closed the connection/), said.join('\n'));
  });

  test('what came with the reply to the name is shown after the round that brought it', { skip: NO_ONE_PIPE }, async (t) => {
    const server = await handMadeServer();
    t.after(() => server.close());
    const child = spawn(
      'sh',
      ['-c', 'exec "$0" "$@" 2>&1', process.execPath, '--import', 'tsx', 'scripts/client.ts', '--name', 'alice', '--port', String(server.port), '--trace'],
      { cwd: ROOT, stdio: 'pipe' },
    );
    const client = new ChildProgram(child);
    t.after(() => child.kill('SIGKILL'));
    const socket = await server.accepted;
    await firstFrame(socket);
    // The reply and a message in one write: they reach the client together.
    socket.write(Buffer.concat([frame('CLIENT: 127.0.0.1', 'str'), frame('\n#[bob@127.0.0.1]>>early', 'str')]));
    await client.line(/>>early$/);
    const said = client.output;
    assert.match(said[0]!, /^round 1: select\(in: server; out: -\) -> readable: server \| server: a message ×2$/);
    assert.deepEqual(said.slice(1), [`Now connected to chat server@ port ${server.port}`, '', '#[bob@127.0.0.1]>>early']);
  });

  test('the client traces the select() of its handshake too', async () => {
    const { program: server, port } = await startServerProgram();
    const client = ChildProgram.start('scripts/client.ts', ['--name', 'alice', '--port', String(port), '--trace']);
    client.child.stdin.end();
    assert.equal(await client.errorLine(/^round/), 'round 1: select(in: server; out: -) -> readable: server | server: a message');
    assert.deepEqual(await client.exited, { code: 0, signal: null });
    server.child.kill('SIGINT');
    await server.exited;
  });

  test('the client shows its two inputs, the keyboard and the server', async () => {
    const { program: server, port } = await startServerProgram();
    const bob = await RawClient.join(port, 'bob');
    const client = ChildProgram.start('scripts/client.ts', ['--name', 'alice', '--port', String(port), '--trace']);
    assert.equal(await bob.next(), '\n(Connected: New client (2) from alice@127.0.0.1)');
    client.child.stdin.write('hi\n');
    assert.match(
      await client.errorLine(/stdin: a line/),
      /^round \d+: select\(in: stdin server; out: -\) -> readable: stdin \| stdin: a line, sent to server$/,
    );
    bob.send('hello');
    assert.match(await client.errorLine(/a message/), /^round \d+: select\(in: stdin server; out: -\) -> readable: server \| server: a message$/);
    client.child.stdin.end();
    assert.match(await client.errorLine(/end of input/), /readable: stdin \| stdin: end of input$/);
    assert.deepEqual(await client.exited, { code: 0, signal: null });
    server.child.kill('SIGINT');
    await server.exited;
  });
});
