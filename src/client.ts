// The chat client: the original's ChatClient, one select() loop over two
// inputs, the keyboard and the server's socket.

import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface, type Interface as ReadlineInterface } from 'node:readline';
import { Reactor, type Connection, type Console } from './reactor.js';
import { PlainScreen, TerminalScreen, type Screen } from './terminal.js';
import { RoundTrace } from './trace.js';
import { FrameDecoder, ProtocolError, receive, send, type PickleShape } from './wire.js';

export interface ChatClientOptions {
  name: string;
  port: number;
  host: string;
  /** What the client pickles: the recipe's bare string or the second
   * edition's 1-tuple. */
  shape: PickleShape;
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
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
  private readonly reactor = new Reactor({ makeInbox: () => new FrameDecoder() });
  private readonly readline: ReadlineInterface;
  private readonly stdin: Console;
  private readonly screen: Screen;
  private readonly trace: RoundTrace | null;

  constructor(options: ChatClientOptions) {
    this.name = options.name;
    this.host = options.host;
    this.port = options.port;
    this.shape = options.shape;
    this.prompt = `[${this.name}@${this.host}]> `;
    const terminal = Boolean(options.input.isTTY && options.output.isTTY);
    this.readline = createInterface({ input: options.input, output: terminal ? options.output : undefined, terminal });
    this.stdin = this.reactor.console(this.readline);
    this.screen = terminal ? new TerminalScreen(this.readline, options.output) : new PlainScreen(options.output);
    this.trace = options.trace ? new RoundTrace(options.trace, (source) => (source === this.stdin ? 'stdin' : 'server')) : null;
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
    const socket = connect({ port: this.port, host: this.host });
    try {
      await once(socket, 'connect');
    } catch {
      this.screen.printLine(`Failed to connect to chat server @ port ${this.port}`);
      return false;
    }
    this.sock = this.reactor.connection(socket);
    this.screen.printLine(`Now connected to chat server@ port ${this.port}`);
    this.connected = true;
    send(this.sock, `NAME: ${this.name}`, this.shape);
    // The original blocks in receive() here; the reactor waits instead, so
    // that Ctrl-C still works while a slow server makes up its mind.
    while (!this.sock.readable && !this.interrupted) await this.reactor.select([this.sock], []);
    if (this.interrupted) {
      this.screen.printLine(' Client interrupted. ');
      return false;
    }
    const data = this.receiveOrReport();
    if (data === undefined) return false;
    if (data === null) {
      // The server hung up on the name (the port's server refuses bad ones).
      this.screen.printLine(`Failed to connect to chat server @ port ${this.port}`);
      return false;
    }
    if (!data.startsWith('CLIENT: ')) {
      this.screen.printLine(`Unexpected handshake reply from the chat server: ${JSON.stringify(data)}`);
      return false;
    }
    const addr = data.slice('CLIENT: '.length);
    this.prompt = `[${this.name}@${addr}]> `;
    return true;
  }

  /** The client's main loop. Resolves to the exit code. */
  async run(): Promise<number> {
    let exitCode = 0;
    while (this.connected) {
      this.screen.showPrompt(this.prompt);
      // Wait for input from stdin or the socket.
      const inputs = [this.stdin, this.sock!];
      this.trace?.selecting(inputs, []);
      const [readable] = await this.reactor.select(inputs, []);
      this.trace?.selected(readable, []);
      for (const sock of readable) {
        if (sock === this.stdin) {
          const line = this.stdin.readLine();
          if (line === null) {
            // End of input (a pipe ran dry, or Ctrl-D): the original would
            // print its prompt for ever here. What was sent is flushed when
            // the socket closes.
            this.connected = false;
            this.trace?.did('stdin: end of input, leaving');
            break;
          }
          this.screen.lineEntered();
          const data = line.trim();
          if (data) send(this.sock!, data, this.shape);
          this.trace?.did(data ? 'stdin: a line, sent' : 'stdin: an empty line, nothing sent');
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
            this.screen.printMessage(data);
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

  close(): void {
    process.off('SIGINT', this.interrupt);
    this.sock?.close();
    this.readline.close();
  }
}
