// The first step's client: the recipe's ChatClient, line for line, on the
// reactor's core (./select.ts). Read ./server.ts first.
//
// It has the recipe's problems, less one: at the end of its input it leaves,
// where the recipe prints its prompt for ever. Where src/room/client.ts solves each:
// - a message that comes while you type is printed into your half-typed
//   line: src/room/terminal.ts keeps the line whole, below the message;
// - what peers send is printed as it is, so their control characters are
//   obeyed by your terminal: src/room/text.ts shows them instead;
// - a server that never answers the name keeps it waiting for ever, and
//   one that breaks the connection or sends a bad frame ends it with an
//   error (and one that closes before its answer leaves it prompting as
//   `[alice@undefined]>`): src/room/client.ts gives up after
//   --handshake-timeout, and says why in one line;
// - at the end of input it leaves at once, whether or not the server has
//   relayed its lines: src/room/client.ts waits until the server has taken them.

import { once } from 'node:events';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { receive, send } from '../wire/wire.js';
import { Connection, Console, Reactor, SelectError } from './select.js';
import { SERVER_HOST } from './server.js';

export class ChatClient {
  connected = false;
  prompt: string;
  private readonly reactor = new Reactor();
  private readonly stdin: Console;
  private readonly output: NodeJS.WritableStream;
  private sock!: Connection;

  constructor(
    readonly name: string,
    readonly port: number,
    { input = process.stdin as NodeJS.ReadableStream, output = process.stdout as NodeJS.WritableStream } = {},
  ) {
    this.output = output;
    // Initial prompt
    this.prompt = `[${name}@${hostname().split('.')[0]}]> `;
    this.stdin = new Console(this.reactor, createInterface({ input, terminal: false }));
  }

  /** The rest of the recipe's constructor: Node connects asynchronously, so it waits here. False if it failed. */
  async connect(): Promise<boolean> {
    try {
      // Connect to server at port
      const socket = connect(this.port, SERVER_HOST);
      await once(socket, 'connect');
      this.sock = new Connection(this.reactor, socket);
      this.output.write(`Now connected to chat server@ port ${this.port}\n`);
      this.connected = true;
      // Send my name...
      send(this.sock, `NAME: ${this.name}`);
      // Python blocks in receive(); here select() waits until the answer is whole.
      await this.reactor.select([this.sock], []);
      const data = receive(this.sock)?.text ?? '';
      // Contains client address, set it
      const addr = data.split('CLIENT: ')[1];
      this.prompt = `[${this.name}@${addr}]> `;
      return true;
    } catch {
      this.output.write(`Failed to connect to chat server @ port ${this.port}\n`);
      this.stdin.close();
      return false;
    }
  }

  /** Chat client main loop. A broken connection or a malformed frame ends it with that error. */
  async run(): Promise<void> {
    // Python raises KeyboardInterrupt inside the loop; Node delivers SIGINT as an event, which interrupts select().
    const interrupt = () => this.reactor.interrupt();
    process.on('SIGINT', interrupt);
    try {
      while (this.connected) {
        try {
          this.output.write(this.prompt);
          // Wait for input from stdin and socket
          const [readable] = await this.reactor.select([this.stdin, this.sock], []);
          for (const sock of readable) {
            if (sock === this.stdin) {
              const data = this.stdin.readLine()?.trim();
              if (data) send(this.sock, data);
              // The end of input: the recipe would print its prompt for ever; this client leaves, its lines sent first.
              if (data === undefined) this.connected = false;
            } else if (sock === this.sock) {
              const data = receive(this.sock)?.text;
              if (!data) {
                this.output.write('Client shutting down.\n');
                this.connected = false;
                break;
              }
              this.output.write(`${data}\n`);
            }
          }
        } catch (error) {
          if (!(error instanceof SelectError)) throw error;
          this.output.write(' Client interrupted. \n');
          break;
        }
      }
    } finally {
      process.off('SIGINT', interrupt);
      this.sock.close();
      this.stdin.close();
    }
  }
}
