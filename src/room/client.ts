// The chat client: the original's ChatClient, one select() loop over two
// inputs, the keyboard and the server's socket.

import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { createInterface, type Interface as ReadlineInterface } from 'node:readline';
import { pickledSize } from '../wire/pickle.js';
import { howMany } from './plural.js';
import { SelectError, type Source } from '../recipe/select.js';
import { RoomReactor } from './reactor.js';
import type { RoomConnection, RoomConsole } from './sources.js';
import { DEFAULT_SERVER_OPTIONS } from './server.js';
import { PlainScreen, TerminalScreen, type Screen } from './terminal.js';
import { relayedLine, showControls, showMessage } from './text.js';
import { formatRound, RoundRecorder } from '../view/trace.js';
import { DEFAULT_MAX_FRAME_SIZE, FrameDecoder, HEADER_SIZE, ProtocolError, receive, send, type PickleShape } from '../wire/wire.js';

/** The largest frame the client takes from a server, by default. A server of
 * this project sends at most its own frame limit (1 MiB unless raised); the
 * Python original relays whatever it gets, and a 1 MiB line can come out up
 * to twice as large (Latin-1 text re-encoded as UTF-8, plus the prefix). A
 * frame is only ever held as its bytes arrive, so a header promising 4 GiB
 * costs nothing before it is refused. */
export const CLIENT_MAX_FRAME_SIZE = 16 * DEFAULT_MAX_FRAME_SIZE;

/** How long the server has to answer the name: the server's own deadline
 * for a newcomer to send it. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = DEFAULT_SERVER_OPTIONS.handshakeTimeoutMs;

/** How often `--wait` tries to connect again. */
const RETRY_EVERY_MS = 200;

/** Lines typed or piped that the client sends in one round at most. */
const LINES_PER_ROUND = 256;

/** Output to the server that may wait before the client stops reading its
 * input until the server has taken some. */
const OUTPUT_HIGH_WATER = 1024 * 1024;

/** What a server says to this one client alone, as `\n(<kind>: <reason>)`:
 * it refuses the newcomer, drops the client, or will not relay one line.
 * (A relayed chat line starts with `\n#[`, so no peer can pose as one.) */
const NOTICE = /^\n\((Refused|Dropped|Not relayed): (.*)\)$/s;

/** The exit status when the reader of the client's output (or of its error
 * output) has gone, as `head -n 2` does once it has two lines: 128 + 13, what
 * a shell reports for `cat` or `yes` ended by SIGPIPE. Node ignores SIGPIPE,
 * so the write fails with EPIPE instead, and the client leaves quietly with
 * the status a Unix tool would have. */
export const EXIT_READER_GONE = 128 + 13;

export interface ChatClientOptions {
  name: string;
  port: number;
  host: string;
  /** What the client pickles: the recipe's bare string or the second
   * edition's 1-tuple. */
  shape: PickleShape;
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
  /** Where the reason for a failure goes, in one line (stderr). */
  errors?: NodeJS.WritableStream;
  /** The largest frame accepted from the server. */
  maxFrameSize?: number;
  /** The server's frame limit, in bytes: a line the server would relay in
   * a larger frame is refused here instead of sent. */
  serverMaxFrameSize?: number;
  /** How long a connection attempt, and then the server's answer to the
   * name, may take, in milliseconds. */
  handshakeTimeoutMs?: number;
  /** How long to keep trying while no server listens yet; 0 to try once. */
  waitMs?: number;
  /** Where `--trace` writes a line per loop round; null for no trace. */
  trace?: ((line: string) => void) | null;
}

/** One thing taken from the server's socket. */
type Received = { kind: 'message'; text: string } | { kind: 'closed' } | { kind: 'reset' } | { kind: 'malformed'; reason: string };

export class ChatClient {
  readonly name: string;
  connected = false;
  readonly host: string;
  readonly port: number;
  prompt: string;
  sock: RoomConnection | undefined;
  /** Ctrl-C was pressed. */
  interrupted = false;
  /** The address the server saw, from its `CLIENT: <ip>` reply. */
  private addr = '';
  private exitCode = 0;
  /** The end of input was reached, and the server told there is no more. */
  private outputClosed = false;
  /** Lines not delivered though the connection stayed: refused here as
   * too long to relay, or sent and not relayed by the server. */
  private linesNotSent = 0;
  private linesNotRelayed = 0;
  /** A write to the output or the error output failed: the client leaves. */
  private outputError: NodeJS.ErrnoException | undefined;
  /** A message that came with the handshake's reply, printed by run(). */
  private early: Received | undefined;
  private readonly sent = new SentLines();
  private readonly shape: PickleShape;
  private readonly reactor: RoomReactor;
  private readonly errors: NodeJS.WritableStream | undefined;
  private readonly waitMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly serverMaxFrameSize: number;
  private readonly terminal: boolean;
  private readonly readline: ReadlineInterface;
  private readonly stdin: RoomConsole;
  private readonly screen: Screen;

  constructor(options: ChatClientOptions) {
    this.name = options.name;
    this.host = options.host;
    this.port = options.port;
    this.shape = options.shape;
    this.errors = options.errors;
    this.waitMs = options.waitMs ?? 0;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.serverMaxFrameSize = options.serverMaxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    const maxFrameSize = options.maxFrameSize ?? CLIENT_MAX_FRAME_SIZE;
    const { trace } = options;
    // The rounds' recorder hears from the reactor and the sources what each round did.
    const recorder = trace ? new RoundRecorder((source) => (source === this.stdin ? 'stdin' : 'server')) : undefined;
    this.reactor = new RoomReactor({ makeInbox: () => new FrameDecoder(maxFrameSize), watcher: recorder });
    this.prompt = `[${this.name}@${this.host}]> `;
    this.terminal = Boolean(options.input.isTTY && options.output.isTTY);
    const { terminal } = this;
    this.readline = createInterface({ input: options.input, output: terminal ? options.output : undefined, terminal });
    this.stdin = this.reactor.console(this.readline);
    const screen = terminal
      ? new TerminalScreen(this.readline, options.input, options.output, options.errors)
      : new PlainScreen(options.output, options.errors);
    this.screen = screen;
    if (trace && recorder) {
      // In a terminal a round's line goes above the line being typed, as a
      // message does (both go to stderr there: `trace` is a writer to it).
      const show = terminal ? (line: string) => screen.printError(line) : trace;
      recorder.onRound((round) => show(formatRound(round)));
      // What a round prints waits for that round's trace line, so that the
      // two read in the order things happened.
      this.screen = afterEachRound(screen, recorder);
    }
    // Python raises KeyboardInterrupt in the loop. Node delivers SIGINT as
    // an event, and in a terminal readline catches Ctrl-C itself (the
    // terminal is in raw mode), so both are listened to.
    this.readline.on('SIGINT', this.interrupt);
    process.on('SIGINT', this.interrupt);
    // A write that fails (the reader of a pipe has gone) comes back as an
    // 'error' event, which would end the process with a stack trace if
    // nobody listened.
    options.output.on('error', this.outputFailed);
    options.errors?.on('error', this.outputFailed);
  }

  /** The original's constructor, from `connect` on: connects, sends the
   * name and waits for `CLIENT: <ip>`. False if any of it failed (the
   * reason has been printed). */
  async connect(): Promise<boolean> {
    const socket = await this.reachServer();
    if (socket === undefined) return false;
    this.sock = this.reactor.connection(socket);
    send(this.sock, `NAME: ${this.name}`, this.shape);
    // The original blocks in receive() here; the reactor waits instead, so
    // that Ctrl-C still works while a slow server makes up its mind, and a
    // server that never answers is given up on.
    const giveUpAt = Date.now() + this.handshakeTimeoutMs;
    while (!this.sock.readable && !this.interrupted && this.outputError === undefined && Date.now() < giveUpAt) await this.awaitReply(giveUpAt - Date.now());
    // The round that brought the reply ends once the reply has been read,
    // so that under --trace what reading it prints follows the round's line.
    try {
      return this.readReply(this.sock);
    } finally {
      this.reactor.loopEnded();
    }
  }

  /** When connect() has failed: closes, and gives the exit status. */
  notConnected(): number {
    this.close();
    if (this.outputError !== undefined) return this.outputGone();
    return this.interrupted ? 0 : 1;
  }

  /** The server's answer to the name, once it has come (or not). */
  private readReply(sock: RoomConnection): boolean {
    if (this.outputError !== undefined) return false;
    if (this.interrupted) {
      this.screen.printLine(' Client interrupted. ');
      return false;
    }
    if (!sock.readable) {
      this.failed(`the server did not answer the name within ${seconds(this.handshakeTimeoutMs)} (--handshake-timeout)`);
      return false;
    }
    const reply = this.take();
    if (reply.kind !== 'message') {
      this.failed(handshakeProblem(reply));
      return false;
    }
    const notice = NOTICE.exec(reply.text);
    if (notice?.[1] === 'Refused') {
      this.failed(`the server refused this client: ${showControls(notice[2]!)}`);
      return false;
    }
    if (!reply.text.startsWith('CLIENT: ')) {
      this.failed(`the server answered the name with ${JSON.stringify(showControls(reply.text.slice(0, 80)))}, not "CLIENT: <address>"`);
      return false;
    }
    // A server that refuses a newcomer answers the name, then says why in
    // the next frame, which has usually come with the answer.
    if (sock.inbox.ready) {
      this.early = this.take();
      const refused = this.early.kind === 'message' ? NOTICE.exec(this.early.text) : null;
      if (refused?.[1] === 'Refused') {
        this.failed(`the server refused this client: ${showControls(refused[2]!)}`);
        return false;
      }
    }
    // Only now is the client in the room: the original says so as soon as
    // the socket connects, before the server has accepted the name.
    this.screen.printLine(`Now connected to chat server@ port ${this.port}`);
    this.connected = true;
    // Shown in every prompt: a server could put anything there.
    this.addr = reply.text.slice('CLIENT: '.length);
    this.prompt = `[${this.name}@${showControls(this.addr)}]> `;
    return true;
  }

  /** A connected socket, or undefined after saying why there is none.
   * With `waitMs`, a server not listening yet is tried again until then
   * (a debugger may start the client and the server at the same moment). */
  private async reachServer(): Promise<Socket | undefined> {
    const giveUpAt = Date.now() + this.waitMs;
    for (;;) {
      // Half-open: the client ends its output when its input ends, and
      // still reads until the server, having taken everything, closes.
      const socket = connect({ port: this.port, host: this.host, allowHalfOpen: true });
      try {
        await once(socket, 'connect', { signal: AbortSignal.timeout(this.handshakeTimeoutMs) });
        return socket;
      } catch (error) {
        socket.destroy();
        const problem = error as NodeJS.ErrnoException;
        if (problem.code === 'ECONNREFUSED' && Date.now() < giveUpAt && !this.interrupted) {
          await new Promise((resolve) => setTimeout(resolve, RETRY_EVERY_MS));
          continue;
        }
        const why = problem.name === 'AbortError' ? `no answer within ${seconds(this.handshakeTimeoutMs)} (--handshake-timeout)` : connectionProblem(problem);
        this.failed(`cannot reach ${this.host} port ${this.port}: ${why}`);
        return undefined;
      }
    }
  }

  /** The original's failure line, and why on stderr in one more. */
  private failed(reason: string): void {
    this.screen.printLine(`Failed to connect to chat server @ port ${this.port}`);
    this.screen.printError(`Why: ${reason}`);
    this.exitCode = 1;
  }

  /** The client's main loop. Resolves to the exit code. */
  async run(): Promise<number> {
    if (this.early !== undefined) this.fromServer(this.early);
    while (this.connected) {
      this.screen.showPrompt(this.prompt);
      // Wait for input from stdin or the socket. While the server has not
      // taken what was sent, stdin waits (a fast pipe would otherwise fill
      // memory), and the socket is watched as an output, to learn when it
      // drains. Once the input has ended, only the server is listened to.
      const backlogged = this.sock!.pendingOutputBytes >= OUTPUT_HIGH_WATER;
      const reading = !this.outputClosed && !backlogged;
      const inputs = reading ? [this.stdin, this.sock!] : [this.sock!];
      const outputs = !this.outputClosed && backlogged ? [this.sock!] : [];
      let readable: Source[];
      try {
        [readable] = await this.reactor.select(inputs, outputs);
      } catch (error) {
        // interrupt() ended it: Ctrl-C, or an output that failed.
        if (error instanceof SelectError) break;
        throw error;
      }
      // What Node still holds, as it was when the socket failed if it has.
      this.sent.left(this.sock!.pendingOutputBytes);
      for (const sock of readable) {
        if (!this.connected) break;
        if (sock === this.stdin) this.sendTypedLines();
        else this.fromServer(this.take());
      }
    }
    // The last round is over: every other ends where the next select() starts.
    this.reactor.loopEnded();
    if (this.outputError !== undefined) {
      this.close();
      return this.outputGone();
    }
    if (this.interrupted) {
      this.screen.printLine(' Client interrupted. ');
    } else if (this.exitCode === 0 && this.linesNotSent + this.linesNotRelayed > 0) {
      const lost = this.linesNotSent + this.linesNotRelayed;
      this.screen.printError(
        `Why: ${howMany(lost, 'line')} of ${(this.sent.count + this.linesNotSent).toLocaleString('en-US')} not delivered (the reasons are above)`,
      );
      this.exitCode = 1;
    }
    this.close();
    return this.interrupted ? 0 : this.exitCode;
  }

  /** stdin is readable: sends the lines waiting (the original sends one per
   * round; a pipe brings many at once, and they leave in one write). At end
   * of input (a pipe ran dry, or Ctrl-D), where the original would print its
   * prompt for ever, the client ends its output and waits for the server to
   * close in turn: then the server has taken every line. */
  private sendTypedLines(): void {
    for (let taken = 0; taken < LINES_PER_ROUND && this.stdin.readable; taken++) {
      const line = this.stdin.readLine();
      if (line === null) {
        // Python's sock.shutdown(SHUT_WR): what was written leaves first, then
        // the end of the stream. The socket stays open for reading.
        this.sock!.flush();
        this.sock!.socket.end();
        this.outputClosed = true;
        return;
      }
      const data = line.trim();
      this.screen.lineEntered();
      if (!data) continue;
      const tooLarge = this.tooLargeToSend(data);
      if (tooLarge !== undefined) {
        this.screen.printError(`Not sent: ${tooLarge}`);
        this.linesNotSent += 1;
        continue;
      }
      send(this.sock!, data, this.shape);
      this.sent.add(HEADER_SIZE + pickledSize(data, this.shape));
    }
  }

  /** Why the server would not relay this line, or undefined if it would:
   * the relayed frame is `\n#[<name>@<ip>]>><text>`, control characters
   * shown as the server shows them, in whichever pickle shape is larger,
   * and must not pass the server's frame limit. */
  private tooLargeToSend(text: string): string | undefined {
    const relayed = relayedLine(`${this.name}@${this.addr}`, text);
    const size = Math.max(pickledSize(relayed, 'str'), pickledSize(relayed, 'tuple'));
    if (size <= this.serverMaxFrameSize) return undefined;
    return `a line of ${Buffer.byteLength(text)} bytes would be relayed as a frame of ${size} bytes, over the server's limit of ${this.serverMaxFrameSize} (--server-max-frame-size)`;
  }

  /** When the server dropped this client for a frame over its limit, and
   * that limit is smaller than the one this client assumed, what to do
   * about it; otherwise ''. (The reason is in the words of this project's
   * server: `frame of <n> bytes is over the limit of <limit>`.) */
  private smallerLimit(reason: string): string {
    const limit = Number(/^frame of \d+ bytes is over the limit of (\d+)$/.exec(reason)?.[1]);
    if (!(limit < this.serverMaxFrameSize)) return '';
    return ` (this client assumed a limit of ${this.serverMaxFrameSize} bytes, larger than this server's: with --server-max-frame-size ${limit} a line too long for it is refused here, and the client goes on)`;
  }

  /** Something came from the server: a message, a notice, its end. */
  private fromServer(received: Received): void {
    switch (received.kind) {
      case 'message': {
        const notice = NOTICE.exec(received.text);
        if (notice === null) {
          this.screen.printMessage(showMessage(received.text));
          return;
        }
        const [, kind, reason] = notice;
        const shown = showControls(reason!);
        if (kind === 'Not relayed') {
          this.screen.printError(`Not relayed by the server: ${shown}`);
          this.linesNotRelayed += 1;
        } else if (kind === 'Refused') {
          this.failed(`the server refused this client: ${shown}`);
          this.leave();
        } else {
          this.screen.printLine('Client shutting down.');
          this.screen.printError(`Why: the server dropped this client: ${shown}${this.smallerLimit(reason!)}${this.lossReport(', and')}`);
          this.exitCode = 1;
          this.leave();
        }
        return;
      }
      case 'malformed':
        this.screen.printLine('Client shutting down.');
        this.screen.printError(`Why: malformed message from the chat server: ${received.reason}${this.lossReport(', and')}`);
        this.exitCode = 1;
        this.leave();
        return;
      case 'closed':
      case 'reset':
        this.serverGone(received.kind === 'reset');
    }
  }

  /** The server closed the connection, or it broke. After the client's own
   * end of output, a close is the server saying it has read everything;
   * before it, or as a reset, whatever had not been taken is lost. */
  private serverGone(reset: boolean): void {
    if (this.outputClosed && !reset && this.sent.notLeft === 0) {
      this.leave();
      return;
    }
    this.screen.printLine('Client shutting down.');
    const loss = this.lossReport('');
    // A reset after the end of output may have come before the server read
    // the last lines: only its close would have said it had.
    if (loss !== '' || (reset && this.outputClosed && this.sent.count > 0)) {
      const how = reset ? 'the connection was reset before the server had taken everything' : 'the server closed the connection before taking everything';
      const unsure = this.sent.count === 1 ? 'the line sent may not have been read' : 'the lines sent may not all have been read';
      this.screen.printError(`Why: ${how}${loss || `: ${unsure}`}`);
      this.exitCode = 1;
    }
    this.leave();
  }

  /** What will not reach the server now that the client leaves early, as
   * the end of a sentence, or '' if nothing surely will not. Lines handed to
   * the kernel may or may not have been read: only the server's own close
   * after the client's end of output says they were. */
  private lossReport(joiner: string): string {
    const parts: string[] = [];
    const notLeft = this.sent.notLeft;
    if (notLeft > 0)
      parts.push(
        `${notLeft.toLocaleString('en-US')} of the ${howMany(this.sent.count, 'line')} sent had not left this client and ${notLeft === 1 ? 'is' : 'are'} lost`,
      );
    const unsent = this.stdin.lines.length;
    if (unsent > 0) parts.push(`${howMany(unsent, 'more line')} of input ${unsent === 1 ? 'was' : 'were'} not sent`);
    // In a terminal the user was still typing; from a pipe, the rest was to be sent.
    if (!this.terminal && !this.stdin.ended && !this.outputClosed) parts.push('the rest of the input was not read');
    if (parts.length === 0) return '';
    const lead = joiner === '' ? ': ' : `${joiner} `;
    const uncertain = this.sent.count > notLeft ? ' (lines that had left may not all have been read either)' : '';
    return `${lead}${parts.join(', ')}${uncertain}`;
  }

  /** The loop ends once this round is over. */
  private leave(): void {
    this.connected = false;
  }

  /** A write to the output or the error output failed: the loop is woken
   * to leave. Whatever else the client would print is dropped (Node drops
   * writes to a stream that has failed). */
  private outputFailed = (error: NodeJS.ErrnoException): void => {
    if (this.outputError !== undefined) return;
    this.outputError = error;
    this.connected = false;
    this.reactor.interrupt();
  };

  /** The exit status once an output has failed. A reader that went away is
   * no failure, and nothing is said; any other error (a terminal that went
   * away, a full disk) is said on stderr if it is still there. */
  private outputGone(): number {
    const error = this.outputError!;
    if (error.code === 'EPIPE') return EXIT_READER_GONE;
    this.screen.printError(`Why: the output failed: ${error.message}`);
    return 1;
  }

  /** Ctrl-C: Python's `except KeyboardInterrupt`. */
  interrupt = (): void => {
    this.interrupted = true;
    this.connected = false;
    this.reactor.interrupt();
  };

  /** The next thing from the server: the original's `receive`, with what
   * it raises told apart. */
  private take(): Received {
    try {
      const data = receive(this.sock!);
      return data === null ? { kind: 'closed' } : { kind: 'message', text: data.text };
    } catch (error) {
      if (error instanceof ProtocolError) return { kind: 'malformed', reason: error.reason };
      if (error === this.sock!.error) return { kind: 'reset' };
      throw error;
    }
  }

  /** One round of the handshake's wait, of at most `timeoutMs`: select()
   * on the server alone, traced like every round. */
  private async awaitReply(timeoutMs: number): Promise<void> {
    try {
      await this.reactor.select([this.sock!], [], timeoutMs);
    } catch (error) {
      if (!(error instanceof SelectError)) throw error;
    }
  }

  close(): void {
    process.off('SIGINT', this.interrupt);
    // Output Node still holds would keep the process alive until the server
    // takes it (a slow room can take seconds): leaving, it is dropped with
    // the socket. It was counted as lost, or Ctrl-C asked to leave at once.
    // With nothing held, the socket is closed as Python's close() does.
    if (this.sock !== undefined && this.sock.pendingOutputBytes > 0) this.sock.destroy();
    else this.sock?.close();
    this.readline.close();
  }
}

/** What was sent, and how much of it Node still holds: the lines not yet
 * handed to the kernel are the ones surely lost if the client must leave. */
class SentLines {
  /** Lines given to the socket. */
  count = 0;
  private bytes = 0;
  /** Where each line not yet known to have left ends, counted in bytes
   * from the start of the connection, oldest first from `first`. */
  private ends: number[] = [];
  private first = 0;

  add(frameBytes: number): void {
    this.count += 1;
    this.bytes += frameBytes;
    this.ends.push(this.bytes);
  }

  /** Node still holds `pendingBytes` of what was written: the lines before them have left. */
  left(pendingBytes: number): void {
    const leftBytes = this.bytes - pendingBytes;
    while (this.first < this.ends.length && this.ends[this.first]! <= leftBytes) this.first += 1;
    if (this.first > 1024 && this.first * 2 > this.ends.length) {
      this.ends = this.ends.slice(this.first);
      this.first = 0;
    }
  }

  /** Lines, or parts of lines, still held by Node as last seen. */
  get notLeft(): number {
    return this.ends.length - this.first;
  }
}

/** A screen whose printing, while a round works, waits until the round has
 * been shown (see `RoundRecorder.afterShown`). */
function afterEachRound(screen: Screen, recorder: RoundRecorder): Screen {
  return {
    showPrompt: (prompt) => recorder.afterShown(() => screen.showPrompt(prompt)),
    printMessage: (message) => recorder.afterShown(() => screen.printMessage(message)),
    printLine: (line) => recorder.afterShown(() => screen.printLine(line)),
    printError: (line) => recorder.afterShown(() => screen.printError(line)),
    lineEntered: () => recorder.afterShown(() => screen.lineEntered()),
  };
}

/** What failed in the handshake, in words. */
function handshakeProblem(reply: Exclude<Received, { kind: 'message' }>): string {
  switch (reply.kind) {
    case 'malformed':
      return `the server answered the name with a malformed message: ${reply.reason}`;
    case 'reset':
      return 'the server reset the connection before answering the name';
    case 'closed':
      // A server that says no without saying why (the Python original never
      // refuses; older servers of this project closed like this) may have
      // refused the name or been full.
      return 'the server closed the connection without answering the name (a server that gives no reasons may have refused the name, or been full)';
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** Why a connection could not be made, in a few words. */
function connectionProblem(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${error.code})`;
    case 'ECONNREFUSED':
      return 'connection refused: no server is listening there (ECONNREFUSED)';
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to the host (${error.code})`;
    default:
      return error.message;
  }
}
