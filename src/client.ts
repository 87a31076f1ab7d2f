// The chat client: the original's ChatClient, one select() loop over two
// inputs, the keyboard and the server's socket.

import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { createInterface, type Interface as ReadlineInterface } from 'node:readline';
import { Reactor, type Connection, type Console } from './reactor.js';
import { PlainScreen, TerminalScreen, type Screen } from './terminal.js';
import { nameRule, showControls, showMessage } from './text.js';
import { formatRound, RoundRecorder } from './trace.js';
import { DEFAULT_MAX_FRAME_SIZE, FrameDecoder, ProtocolError, receive, send, type PickleShape } from './wire.js';

/** The largest frame the client takes from a server, by default. A server of
 * this project sends at most its own frame limit (1 MiB unless raised); the
 * Python original relays whatever it gets, and a 1 MiB line can come out up
 * to twice as large (Latin-1 text re-encoded as UTF-8, plus the prefix). A
 * frame is only ever held as its bytes arrive, so a header promising 4 GiB
 * costs nothing before it is refused. */
export const CLIENT_MAX_FRAME_SIZE = 16 * DEFAULT_MAX_FRAME_SIZE;

/** How often `--wait` tries to connect again. */
const RETRY_EVERY_MS = 200;

/** Lines typed or piped that the client sends in one round at most. */
const LINES_PER_ROUND = 256;

/** Output to the server that may wait before the client stops reading its
 * input until the server has taken some. */
const OUTPUT_HIGH_WATER = 1024 * 1024;

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
  /** How long to keep trying while no server listens yet; 0 to try once. */
  waitMs?: number;
  /** Where `--trace` writes a line per loop round; null for no trace. */
  trace?: ((line: string) => void) | null;
}

export class ChatClient {
  readonly name: string;
  connected = false;
  readonly host: string;
  readonly port: number;
  prompt: string;
  sock: Connection<FrameDecoder> | undefined;
  /** Ctrl-C was pressed. */
  interrupted = false;
  private readonly shape: PickleShape;
  private readonly reactor: Reactor<FrameDecoder>;
  private readonly errors: NodeJS.WritableStream | undefined;
  private readonly waitMs: number;
  private readonly readline: ReadlineInterface;
  private readonly stdin: Console;
  private readonly screen: Screen;
  private readonly trace: RoundRecorder | null;

  constructor(options: ChatClientOptions) {
    this.name = options.name;
    this.host = options.host;
    this.port = options.port;
    this.shape = options.shape;
    this.errors = options.errors;
    this.waitMs = options.waitMs ?? 0;
    const maxFrameSize = options.maxFrameSize ?? CLIENT_MAX_FRAME_SIZE;
    this.reactor = new Reactor({ makeInbox: () => new FrameDecoder(maxFrameSize) });
    this.prompt = `[${this.name}@${this.host}]> `;
    const terminal = Boolean(options.input.isTTY && options.output.isTTY);
    this.readline = createInterface({ input: options.input, output: terminal ? options.output : undefined, terminal });
    this.stdin = this.reactor.console(this.readline);
    this.screen = terminal ? new TerminalScreen(this.readline, options.output) : new PlainScreen(options.output);
    this.trace = null;
    const { trace } = options;
    if (trace) {
      this.trace = new RoundRecorder((source) => (source === this.stdin ? 'stdin' : 'server'));
      this.trace.onRound((round) => trace(formatRound(round)));
    }
    // Python raises KeyboardInterrupt in the loop. Node delivers SIGINT as
    // an event, and in a terminal readline catches Ctrl-C itself (the
    // terminal is in raw mode), so both are listened to.
    this.readline.on('SIGINT', this.interrupt);
    process.on('SIGINT', this.interrupt);
  }

  /** The original's constructor, from `connect` on: connects, sends the
   * name and waits for `CLIENT: <ip>`. False if any of it failed (the
   * reason has been printed). */
  async connect(): Promise<boolean> {
    const socket = await this.reachServer();
    if (socket === undefined) return false;
    this.sock = this.reactor.connection(socket);
    this.screen.printLine(`Now connected to chat server@ port ${this.port}`);
    this.connected = true;
    send(this.sock, `NAME: ${this.name}`, this.shape);
    // The original blocks in receive() here; the reactor waits instead, so
    // that Ctrl-C still works while a slow server makes up its mind.
    while (!this.sock.readable && !this.interrupted) await this.awaitReply();
    if (this.interrupted) {
      this.screen.printLine(' Client interrupted. ');
      return false;
    }
    const data = this.receiveOrReport();
    if (data === undefined) return false;
    if (data === null) {
      // A server of this project hangs up on a name it refuses, and logs why.
      this.failed(`the server closed the connection during the handshake; it probably refused the name (on this project's servers, ${nameRule(64)})`);
      return false;
    }
    if (!data.startsWith('CLIENT: ')) {
      this.screen.printLine(`Unexpected handshake reply from the chat server: ${JSON.stringify(data)}`);
      return false;
    }
    // Shown in every prompt: a server could put anything there.
    const addr = showControls(data.slice('CLIENT: '.length));
    this.prompt = `[${this.name}@${addr}]> `;
    return true;
  }

  /** A connected socket, or undefined after saying why there is none.
   * With `waitMs`, a server not listening yet is tried again until then
   * (a debugger may start the client and the server at the same moment). */
  private async reachServer(): Promise<Socket | undefined> {
    const giveUpAt = Date.now() + this.waitMs;
    for (;;) {
      const socket = connect({ port: this.port, host: this.host });
      try {
        await once(socket, 'connect');
        return socket;
      } catch (error) {
        const problem = error as NodeJS.ErrnoException;
        if (problem.code === 'ECONNREFUSED' && Date.now() < giveUpAt && !this.interrupted) {
          await new Promise((resolve) => setTimeout(resolve, RETRY_EVERY_MS));
          continue;
        }
        this.failed(`cannot reach ${this.host} port ${this.port}: ${connectionProblem(problem)}`);
        return undefined;
      }
    }
  }

  /** The original's failure line, and why on stderr in one more. */
  private failed(reason: string): void {
    this.screen.printLine(`Failed to connect to chat server @ port ${this.port}`);
    this.errors?.write(`Why: ${reason}\n`);
  }

  /** The client's main loop. Resolves to the exit code. */
  async run(): Promise<number> {
    let exitCode = 0;
    while (this.connected) {
      this.screen.showPrompt(this.prompt);
      // Wait for input from stdin or the socket. While the server has not
      // taken what was sent, stdin waits (a fast pipe would otherwise fill
      // memory), and the socket is watched as an output, to learn when it drains.
      const backlogged = this.sock!.pendingOutputBytes >= OUTPUT_HIGH_WATER;
      const inputs = backlogged ? [this.sock!] : [this.stdin, this.sock!];
      const outputs = backlogged ? [this.sock!] : [];
      this.trace?.selecting(inputs, outputs);
      const [readable, writable] = await this.reactor.select(inputs, outputs);
      this.trace?.selected(readable, writable);
      for (const sock of readable) {
        if (sock === this.stdin) {
          if (!this.sendTypedLines()) break;
        } else {
          const data = this.receiveOrReport();
          if (data === undefined) {
            exitCode = 1;
            this.connected = false;
            this.trace?.did('server: a malformed message, leaving');
          } else if (data === null) {
            this.screen.printLine('Client shutting down.');
            this.connected = false;
            this.trace?.did('server: hung up, leaving');
          } else {
            this.screen.printMessage(showMessage(data));
            this.trace?.did('server: a message, printed');
          }
        }
      }
      this.trace?.done();
    }
    if (this.interrupted) this.screen.printLine(' Client interrupted. ');
    this.close();
    return exitCode;
  }

  /** stdin is readable: sends the lines waiting (the original sends one per
   * round; a pipe brings many at once, and they leave in one write). False
   * at end of input (a pipe ran dry, or Ctrl-D), where the original would
   * print its prompt for ever; what was sent is flushed when the socket closes. */
  private sendTypedLines(): boolean {
    let sent = 0;
    for (let taken = 0; taken < LINES_PER_ROUND && this.stdin.lines.length > 0; taken++) {
      const data = this.stdin.readLine()!.trim();
      this.screen.lineEntered();
      if (data) {
        send(this.sock!, data, this.shape);
        sent += 1;
      }
    }
    if (this.stdin.lines.length === 0 && this.stdin.ended) {
      this.connected = false;
      this.trace?.did(sent === 0 ? 'stdin: end of input, leaving' : `stdin: ${sent} sent, then end of input, leaving`);
      return false;
    }
    this.trace?.did(sent === 0 ? 'stdin: an empty line, nothing sent' : sent === 1 ? 'stdin: a line, sent' : `stdin: ${sent} lines, sent`);
    return true;
  }

  /** Ctrl-C: Python's `except KeyboardInterrupt`. */
  interrupt = (): void => {
    this.interrupted = true;
    this.connected = false;
    this.reactor.interrupt();
  };

  /** The next message's text; null if the server has gone; undefined if it
   * sent something malformed, which has been reported. */
  private receiveOrReport(): string | null | undefined {
    try {
      return receive(this.sock!)?.text ?? null;
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.screen.printLine(`Malformed message from the chat server: ${error.reason}`);
        return undefined;
      }
      if (error === this.sock!.error) return null; // a reset is the server going away too
      throw error;
    }
  }

  /** One round of the handshake's wait: select() on the server alone, traced like every round. */
  private async awaitReply(): Promise<void> {
    this.trace?.selecting([this.sock], []);
    const [readable] = await this.reactor.select([this.sock!], []);
    this.trace?.selected(readable, []);
    if (readable.length > 0) this.trace?.did('server: the reply to the handshake');
    this.trace?.done();
  }

  close(): void {
    process.off('SIGINT', this.interrupt);
    this.sock?.close();
    this.readline.close();
  }
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
