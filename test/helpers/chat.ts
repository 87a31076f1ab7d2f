// Test helpers: a raw chat client that speaks frames over a real socket,
// the server run in this process, and the command lines as child processes.

import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { connect, createServer, type Socket } from 'node:net';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ChatServer, type ChatServerOptions } from '../../src/room/server.js';
import { decodePickle, type DecodedPickle, type PickleShape } from '../../src/wire/pickle.js';
import { FrameDecoder, frame } from '../../src/wire/wire.js';
import { PYTHON3 } from './python.js';
import { endProcessTree } from './system.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Waits for things to arrive in order: lines, messages... */
class Mailbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((item: T | undefined) => void)[] = [];
  private closed = false;

  put(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  close(): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  /** The next item, or undefined once closed and empty. */
  take(): Promise<T | undefined> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get pending(): readonly T[] {
    return this.items;
  }
}

/** A message as it came: decoded, and the pickle's bytes. */
export type ReceivedMessage = DecodedPickle & { payload: Buffer };

/** A client that speaks the wire format and nothing more, for tests. */
export class RawClient {
  readonly messages = new Mailbox<ReceivedMessage>();
  private readonly decoder = new FrameDecoder();
  readonly closed: Promise<void>;
  /** This end's address, as the server sees it: kept from the connect,
   * since a closed socket no longer tells it. */
  readonly localAddress: string | undefined;

  private constructor(readonly socket: Socket) {
    this.localAddress = socket.localAddress;
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      for (let payload = this.decoder.next(); payload !== undefined; payload = this.decoder.next()) {
        this.messages.put({ ...decodePickle(payload), payload });
      }
    });
    // A reset is one way for the server to close: 'close' follows and says so.
    socket.on('error', () => {});
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve())).then(() => this.messages.close());
  }

  /** Connects to `host`, 127.0.0.1 unless told (::1, reaching a server on
   * `::`, is another host as far as the server can tell: see
   * test/helpers/addresses.ts). */
  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = connect({ port, host });
    await once(socket, 'connect');
    return new RawClient(socket);
  }

  /** Connects and completes the handshake; returns the server's reply. */
  static async join(port: number, name: string, shape: PickleShape = 'str', host = '127.0.0.1'): Promise<RawClient> {
    const client = await RawClient.connect(port, host);
    client.send(`NAME: ${name}`, shape);
    const reply = await client.next();
    if (reply !== `CLIENT: ${host}`) throw new Error(`unexpected handshake reply ${JSON.stringify(reply)}`);
    return client;
  }

  send(text: string, shape: PickleShape = 'str'): void {
    this.socket.write(frame(text, shape));
  }

  writeRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** The next message whole, or undefined if the server closed the connection. */
  nextMessage(): Promise<ReceivedMessage | undefined> {
    return this.messages.take();
  }

  /** The next message's text, or undefined if the server closed the connection. */
  async next(): Promise<string | undefined> {
    return (await this.messages.take())?.text;
  }

  /** Waits until the server closes this connection; fails on any message. */
  async expectClosed(): Promise<void> {
    const message = await this.messages.take();
    if (message !== undefined) throw new Error(`expected the connection to close, got ${JSON.stringify(message.text)}`);
  }

  /** Waits for a refusal as the server words it: the handshake's reply,
   * the reason, then the close. Resolves to the reason. */
  async expectRefused(): Promise<string> {
    const reply = await this.next();
    if (reply !== `CLIENT: ${this.localAddress}`) throw new Error(`expected the handshake's reply, got ${JSON.stringify(reply)}`);
    const notice = await this.next();
    const [, reason] = /^\n\(Refused: (.*)\)$/s.exec(notice ?? '') ?? [];
    if (reason === undefined) throw new Error(`expected a refusal, got ${JSON.stringify(notice)}`);
    await this.expectClosed();
    return reason;
  }

  end(): void {
    this.socket.end();
  }
}

/** The server, run in this process on a free port, with its log kept. */
export async function startServer(options: Partial<ChatServerOptions> = {}) {
  const log = new Mailbox<string>();
  const logged: string[] = [];
  const server = await ChatServer.listen({
    port: 0,
    log: (line) => {
      logged.push(line);
      log.put(line);
    },
    ...options,
  });
  const running = server.run();
  servers.add(server);
  void running.finally(() => servers.delete(server));
  return {
    server,
    port: server.port,
    logged,
    /** Waits for the next log line matching the pattern, skipping others. */
    async logLine(pattern: RegExp): Promise<string> {
      for (;;) {
        const line = await log.take();
        if (line === undefined) throw new Error(`log ended without ${pattern}`);
        if (pattern.test(line)) return line;
      }
    },
    async stop(): Promise<void> {
      server.sighandler();
      await running;
    },
    running,
  };
}

/** How many connections a server's log says it accepted: its `got
 * connection` lines, and what the summaries of a flood of them count. */
export function acceptedIn(lines: readonly string[]): number {
  let accepted = 0;
  for (const line of lines) {
    if (line.startsWith('Chat server: got connection ')) accepted += 1;
    const summed = /^Chat server: accepted ([\d,]+) more connections? in the last second/.exec(line)?.[1];
    if (summed !== undefined) accepted += Number(summed.replaceAll(',', ''));
  }
  return accepted;
}

/** Every program a test started that has not exited yet, and every server
 * it ran in this process that is still running. Under the test runner they
 * are ended once the file's tests are done, however those ended (a failure,
 * a timeout): no process outlives its test file, and none keeps the runner
 * waiting. (Outside the runner, as in scripts/screenshot.ts, the program
 * ends them itself.) */
const running = new Set<ChildProcess>();
const servers = new Set<ChatServer>();
if (process.env.NODE_TEST_CONTEXT !== undefined) after(endWhatTestsLeft);

/** Ends every program still running, with everything it started when it
 * has a process group of its own (spawned `detached`; on Windows, its
 * tree), and stops every server still running in this process. */
export function endWhatTestsLeft(): void {
  for (const server of servers) server.sighandler();
  for (const child of running) endProcessTree(child);
  running.clear();
}

/** A command line of the project, as a child process, reading its output line by line. */
export class ChildProgram {
  readonly lines = new Mailbox<string>();
  readonly errorLines = new Mailbox<string>();
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';
  private partial = '';
  private partialError = '';

  /** `lineBreak`: what ends a line. Byte exact by default; Python writes
   * "\r\n" on Windows, as a text file there ends its lines. */
  constructor(
    readonly child: ChildProcessWithoutNullStreams,
    private readonly lineBreak: string | RegExp = '\n',
  ) {
    running.add(child);
    child.once('exit', () => running.delete(child));
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) => this.take(text));
    child.stderr.on('data', (text: string) => {
      this.stderr += text;
      const parts = (this.partialError + text).split(this.lineBreak);
      this.partialError = parts.pop()!;
      for (const line of parts) this.errorLines.put(line);
    });
    this.exited = once(child, 'exit').then(([code, signal]) => {
      this.lines.close();
      this.errorLines.close();
      return { code: code as number | null, signal: signal as NodeJS.Signals | null };
    });
  }

  /** The project's Python port of the recipe (test/interop/), run by the
   * Python 3 found here (test/helpers/python.ts: a test that calls this
   * is skipped where there is none). */
  static python(args: string[]): ChildProgram {
    if (PYTHON3 === undefined) throw new Error('no Python 3 runs here');
    const child = spawn(PYTHON3.command, [...PYTHON3.args, '-u', 'test/interop/chat_server_with_select.py', ...args], { cwd: ROOT, stdio: 'pipe' });
    return new ChildProgram(child, /\r?\n/);
  }

  static start(script: string, args: string[], nodeArgs: string[] = []): ChildProgram {
    const child = spawn(process.execPath, ['--enable-source-maps', '--import', 'tsx', ...nodeArgs, script, ...args], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    return new ChildProgram(child);
  }

  /** Stops a server program the way every system has: a line typed on its
   * console (README). A signal would do on POSIX, but on Windows every
   * signal is a forced kill, and the server would not close its clients. */
  stopByConsole(): void {
    this.child.stdin.write('stop\n');
  }

  /** The peak memory the program reports on stderr as it exits, in MB:
   * started with PEAK_RSS_REPORTER loaded, after it has exited. */
  reportedPeakRssMb(): number {
    const reported = /^peak RSS: (\d+) MB$/m.exec(this.stderr);
    if (reported === null) throw new Error(`no peak RSS reported; stderr: ${this.stderr}`);
    return Number(reported[1]);
  }

  /** Waits for the next line of stdout matching the pattern, skipping others. */
  line(pattern: RegExp): Promise<string> {
    return this.nextMatching(this.lines, pattern);
  }

  /** The same for stderr. */
  errorLine(pattern: RegExp): Promise<string> {
    return this.nextMatching(this.errorLines, pattern);
  }

  private async nextMatching(lines: Mailbox<string>, pattern: RegExp): Promise<string> {
    for (;;) {
      const line = await lines.take();
      if (line === undefined) throw new Error(`exited without printing ${pattern}; stdout: ${JSON.stringify(this.output)} stderr: ${this.stderr}`);
      if (pattern.test(line)) return line;
    }
  }

  private take(text: string): void {
    const parts = (this.partial + text).split(this.lineBreak);
    this.partial = parts.pop()!;
    for (const line of parts) {
      this.output.push(line);
      this.lines.put(line);
    }
  }
}

/** Node's arguments that make a program report its peak memory as it
 * exits (test/helpers/report-peak-rss.ts): every system says that of a
 * process, and no test reads /proc for it. */
export const PEAK_RSS_REPORTER = ['--import', './test/helpers/report-peak-rss.ts'];

/** The server's command line on a free port; resolves once it listens. */
export async function startServerProgram(args: string[] = [], nodeArgs: string[] = []): Promise<{ program: ChildProgram; port: number }> {
  const program = ChildProgram.start('scripts/server.ts', ['--port', '0', ...args], nodeArgs);
  const line = await program.line(/^Server listening to port: \d+ \.\.\.$/);
  return { program, port: Number(/\d+/.exec(line)![0]) };
}

/** Fails with `what` if the promise has not settled within `ms`: for the
 * tests whose failure would otherwise be a hang. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Alice and Bob, joined and chatting: the room that must go on. */
export async function chatPair(port: number): Promise<{ alice: RawClient; bob: RawClient }> {
  const alice = await RawClient.join(port, 'alice');
  const bob = await RawClient.join(port, 'bob');
  const joined = await alice.next();
  if (joined !== '\n(Connected: New client (2) from bob@127.0.0.1)') throw new Error(`unexpected ${JSON.stringify(joined)}`);
  return { alice, bob };
}

/** Alice and Bob exchange a line each way. Strictly, the line is the very
 * next message each gets; with `skipOthers`, what others say meanwhile is
 * skipped. Fails after ten seconds rather than hang. */
export async function stillChatting(alice: RawClient, bob: RawClient, { skipOthers = false }, line: string): Promise<void> {
  const hears = async (client: RawClient, expected: string) => {
    for (;;) {
      const message = await client.next();
      if (message === expected) return;
      if (message === undefined || !skipOthers) throw new Error(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(message)}`);
    }
  };
  alice.send(line);
  await within(10_000, `bob hearing ${line}`, hears(bob, `\n#[alice@127.0.0.1]>>${line}`));
  bob.send(`re: ${line}`);
  await within(10_000, `alice hearing re: ${line}`, hears(alice, `\n#[bob@127.0.0.1]>>re: ${line}`));
}

/** A server made by hand, to test the client against whatever a test
 * makes it send. */
export async function handMadeServer(): Promise<{ port: number; accepted: Promise<Socket>; close: () => void }> {
  const server = createServer();
  const accepted = once(server, 'connection').then(([socket]) => socket as Socket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, accepted, close: () => server.close() };
}

/** A server made by hand for one test, closed after it, and
 * `scripts/client.ts --name alice` started against it. */
export async function clientOfHandMadeServer(t: TestContext, extra: string[] = []) {
  const server = await handMadeServer();
  t.after(() => server.close());
  const client = ChildProgram.start('scripts/client.ts', ['--name', 'alice', '--port', String(server.port), ...extra]);
  /** The server's side once the client has sent its name. */
  const named = async (): Promise<Socket> => {
    const socket = await server.accepted;
    await firstFrame(socket);
    return socket;
  };
  return { port: server.port, client, named };
}

/** The payload of the next frame a peer sends. (Bytes after it in the same
 * chunk are not kept: for peers that wait for an answer.) */
export function firstFrame(socket: Socket): Promise<Buffer> {
  const decoder = new FrameDecoder();
  return new Promise((resolve, reject) => {
    const take = (chunk: Buffer) => {
      decoder.push(chunk);
      const payload = decoder.next();
      if (payload === undefined) return;
      // Paused, what comes next waits for the next call instead of being lost.
      socket.off('data', take).pause();
      resolve(payload);
    };
    socket.on('data', take).resume();
    socket.once('close', () => reject(new Error('closed before a whole frame')));
  });
}
