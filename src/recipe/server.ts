// The first step: the recipe's chat server, line for line and under its
// names, on the reactor's core (./select.ts). Read this first, then
// ./client.ts, then ./select.ts; docs/MAPPING.md walks the full server.
//
// Run it with `npm run recipe` (`-- --port N`), and in other terminals
// `npm run recipe:client -- --name alice`. It speaks the recipe's wire format
// (src/wire/wire.ts), so the Python original (test/interop/chat_server_with_select.py),
// ./client.ts and the full client (src/room/client.ts, `npm run client`) all talk to it. Node's shape fixes three of the recipe's
// defects for free: a frame that comes in pieces waits in its inbox until it
// is whole, a client that says nothing blocks no one (its first message,
// whenever it comes, is its name), and an idle client does not make the loop
// spin. It has no defences. Its problems, and where the full server
// (src/room/server.ts) solves each:
// - a client that never says its name, or stops halfway through a frame,
//   is kept for ever: the deadlines of src/room/policy.ts;
// - any name is taken, twice, by as many clients as come, and control
//   characters are relayed as they are: src/room/admission.ts, src/room/text.ts;
// - every socket is read as fast as its peer sends, however slowly the loop
//   takes the frames: the input budget of src/room/flow.ts;
// - output to a client that does not read piles up in Node without limit,
//   and each message is a write of its own: src/room/outbox.ts, and the
//   slow-consumer policy of src/room/policy.ts;
// - a storm of connections is accepted one a round, each with its log line,
//   written whether or not the terminal keeps up: src/room/gather.ts, src/room/log.ts;
// - a client of the book's second edition (which pickles a 1-tuple) is
//   answered in the recipe's shape, which it cannot read: src/room/server.ts
//   answers each client in the shape it speaks;
// - shutting down waits for every client to close its end: src/room/sources.ts
//   closes with a deadline;
// - an empty message is taken for a hang-up, as the recipe takes it:
//   src/room/server.ts reads it as nothing to say.

import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { receive, send } from '../wire/wire.js';
import { Connection, Console, Listener, Reactor, SelectError, type Source } from './select.js';

/** Where the server listens, and its port unless told: those of `npm start`. */
export const SERVER_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8800;

export class ChatServer {
  /** The number of clients that have said their name. */
  clients = 0;
  /** client → its (address, port) and its name. */
  readonly clientmap = new Map<Connection, [address: [string, number], name: string]>();
  /** The clients a message goes to. */
  outputs: Connection[] = [];
  private readonly reactor = new Reactor();
  private readonly server: Listener;
  private readonly stdin: Console;
  private readonly print: (line: string) => void;

  /** Binds and listens: the recipe's __init__. Rejects with Node's error (EADDRINUSE...). `print` is Python's. */
  static async listen(port: number, { backlog = 5, stdin = process.stdin as NodeJS.ReadableStream, print = console.log } = {}): Promise<ChatServer> {
    const server = createServer().listen({ port, host: SERVER_HOST, backlog });
    await once(server, 'listening');
    print(`Server listening to port: ${(server.address() as AddressInfo).port} ...`);
    return new ChatServer(server, stdin, print);
  }

  private constructor(server: ReturnType<typeof createServer>, stdin: NodeJS.ReadableStream, print: (line: string) => void) {
    this.server = new Listener(this.reactor, server);
    this.stdin = new Console(this.reactor, createInterface({ input: stdin, terminal: false }));
    this.print = print;
  }
  /** Python installs it with signal.signal(SIGINT, ...); Node calls it from process.on('SIGINT'). */
  sighandler = (): void => {
    this.print('Shutting down server...');
    // Close existing client sockets
    for (const output of this.outputs) output.close();
    this.server.close();
    // Python 2's select() is interrupted by the signal (EINTR) and raises select.error; here it is told to.
    this.reactor.interrupt();
  };

  getClientName(client: Connection): string {
    const [[host], name] = this.clientmap.get(client)!;
    return `${name}@${host}`;
  }

  async run(): Promise<void> {
    const inputs: Source[] = [this.server, this.stdin];
    this.outputs = [];
    let running = true;
    process.on('SIGINT', this.sighandler);
    while (running) {
      let readable: Source[];
      try {
        [readable] = await this.reactor.select(inputs, this.outputs);
      } catch (error) {
        if (!(error instanceof SelectError)) throw error;
        break;
      }

      for (const sock of readable) {
        if (sock === this.server) {
          // handle the server socket
          const client = this.server.accept();
          const address = [client.socket.remoteAddress!, client.socket.remotePort!] as const;
          this.print(`Chat server: got connection ${client.id} from ('${address[0]}', ${address[1]})`);
          // Python reads the name right here, and everyone waits until this client sends it.
          // Here it joins the inputs, and its first message is its name: see handshake().
          inputs.push(client);
        } else if (sock === this.stdin) {
          // handle standard input: a line, or the end of input, stops the server
          this.stdin.readLine();
          running = false;
        } else if (sock instanceof Connection) {
          // handle all other sockets
          let data: string | undefined;
          try {
            data = receive(sock)?.text;
          } catch (error) {
            // Python's `except socket.error`, and a malformed frame: the client is gone. The recipe only
            // forgets it; here it is closed, and the others are told, as for a hang-up.
            this.print(`Chat server: ${sock.id} failed: ${(error as Error).message}`);
          }
          if (data && !this.clientmap.has(sock)) {
            this.handshake(sock, data);
          } else if (data) {
            // Send as new client's message...
            const msg = `\n#[${this.getClientName(sock)}]>>${data}`;
            // Send data to all except ourself
            for (const output of this.outputs) if (output !== sock) send(output, msg);
          } else {
            // The end of the stream, and, as in the recipe, an empty message.
            sock.close();
            inputs.splice(inputs.indexOf(sock), 1);
            if (!this.clientmap.has(sock)) continue; // it left before saying its name
            this.print(`Chat server: ${sock.id} hung up`);
            this.clients -= 1;
            this.outputs.splice(this.outputs.indexOf(sock), 1);
            // Sending client leaving information to others
            const msg = `\n(Now hung up: Client from ${this.getClientName(sock)})`;
            for (const output of this.outputs) send(output, msg);
            // The recipe never does this: its map keeps every client that ever came.
            this.clientmap.delete(sock);
          }
        }
      }
    }
    process.off('SIGINT', this.sighandler);
    // Python's exit closes every socket left; Node's would wait for them.
    for (const source of inputs) source.close();
  }

  /** The recipe's lines after accept(), once the client's first message, its name, has come. */
  private handshake(client: Connection, data: string): void {
    // Read the login name; anything else is taken as the name itself
    const cname = data.split('NAME: ')[1] ?? data;
    // Compute client name and send back
    this.clients += 1;
    const address: [string, number] = [client.socket.remoteAddress!, client.socket.remotePort!];
    send(client, `CLIENT: ${address[0]}`);
    this.clientmap.set(client, [address, cname]);
    // Send joining information to other clients
    const msg = `\n(Connected: New client (${this.clients}) from ${this.getClientName(client)})`;
    for (const output of this.outputs) send(output, msg);
    this.outputs.push(client);
  }
}
