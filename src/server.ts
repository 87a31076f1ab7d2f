// The chat server: the original's ChatServer, one select() loop over the
// listening socket, the console and every client.
//
// The shape is the recipe's: `run` is a `while (running)` loop around
// `select(inputs, outputs)`, with one branch for the listening server, one
// for the console and one for a client. Where the recipe blocks (the
// handshake right after accept) or crashes (a client that leaves while
// others do), this loop neither blocks nor crashes; see docs/ERRATA.md.

import { createServer, type Server } from 'node:net';
import type { Interface as ReadlineInterface } from 'node:readline';
import { Reactor, type Connection, type Console, type Listener, type Source } from './reactor.js';
import { RoundTrace } from './trace.js';
import { DEFAULT_MAX_FRAME_SIZE, FrameDecoder, frame, ProtocolError, receive, send, type PickleShape } from './wire.js';

export type ChatConnection = Connection<FrameDecoder>;

export interface ChatServerOptions {
  port: number;
  host: string;
  /** listen()'s backlog: connections the kernel queues before accept. */
  backlog: number;
  /** A client that has not sent `NAME: <name>` by then is dropped. */
  handshakeTimeoutMs: number;
  maxFrameSize: number;
  maxNameLength: number;
  /** Connections at once (named or still in the handshake); more are closed. */
  maxClients: number;
  /** Soft limit: a client with this much output waiting is congested, and
   * the server stops reading other clients' lines until it drains. */
  outputSoftLimit: number;
  /** Hard limit: a client with this much output waiting is dropped at once. */
  outputHardLimit: number;
  /** A congested client that takes none of its output for this long is
   * dropped, so that one client that stopped reading cannot stall the room. */
  slowClientGraceMs: number;
  /** Where typed lines stop the server; null for none. */
  console: ReadlineInterface | null;
  /** Where the server's own messages go (one line each). */
  log: (line: string) => void;
  /** Where `--trace` writes a line per loop round; null for no trace. */
  trace: ((line: string) => void) | null;
}

export const DEFAULT_SERVER_OPTIONS: ChatServerOptions = {
  port: 8800,
  host: '127.0.0.1',
  backlog: 511,
  handshakeTimeoutMs: 10_000,
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  maxNameLength: 64,
  maxClients: 10_000,
  outputSoftLimit: 1024 * 1024,
  outputHardLimit: 8 * 1024 * 1024,
  slowClientGraceMs: 5_000,
  console: null,
  log: (line) => console.log(line),
  trace: null,
};

/** What the original keeps in `clientmap`: the address and the name, plus
 * the pickle shape the client speaks, so that it is answered in kind. */
export interface ClientInfo {
  address: string;
  name: string;
  shape: PickleShape;
}

const NAME_PREFIX = 'NAME: ';

/** How a congested client is doing: the least output it has had waiting
 * since it became congested, and when that least was last lowered. */
interface Congestion {
  lowestPending: number;
  progressAt: number;
}

export class ChatServer {
  /** The number of clients that have completed the handshake. */
  clients = 0;
  /** client → its address and name. */
  readonly clientmap = new Map<ChatConnection, ClientInfo>();
  /** Every client that has completed the handshake: the ones a message goes to. */
  outputs: ChatConnection[] = [];
  /** Accepted clients that have not yet sent their name, by deadline. */
  private readonly handshakeDeadlines = new Map<ChatConnection, number>();
  /** Clients with more output waiting than the soft limit. */
  private readonly congested = new Map<ChatConnection, Congestion>();
  private running = false;
  private readonly options: ChatServerOptions;
  private readonly reactor: Reactor<FrameDecoder>;
  private readonly listener: Listener<FrameDecoder>;
  private readonly console: Console | null;
  private readonly trace: RoundTrace | null;

  private constructor(readonly server: Server, options: ChatServerOptions) {
    this.options = options;
    this.reactor = new Reactor({ makeInbox: () => new FrameDecoder(options.maxFrameSize) });
    this.listener = this.reactor.listen(server);
    this.console = options.console && this.reactor.console(options.console);
    this.trace = options.trace && new RoundTrace(options.trace, (source) => this.nameOf(source as Source));
  }

  /** Binds and listens (the original's __init__). Rejects with Node's error,
   * such as EADDRINUSE, if it cannot. */
  static async listen(overrides: Partial<ChatServerOptions> = {}): Promise<ChatServer> {
    const options = { ...DEFAULT_SERVER_OPTIONS, ...overrides };
    // Node sets SO_REUSEADDR on listening sockets itself.
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: options.port, host: options.host, backlog: options.backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const chat = new ChatServer(server, options);
    options.log(`Server listening to port: ${chat.port} ...`);
    return chat;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : this.options.port;
  }

  /** Python installs this with signal.signal(SIGINT, ...); Node calls it
   * from process.on('SIGINT'). It only ends the loop: run() closes
   * everything once the loop is out of select(). */
  sighandler = (): void => {
    if (!this.running) return;
    this.options.log('Shutting down server...');
    this.running = false;
    this.reactor.interrupt();
  };

  getClientName(client: ChatConnection): string {
    const info = this.clientmap.get(client)!;
    return `${info.name}@${info.address}`;
  }

  async run(): Promise<void> {
    const inputs: Source[] = [this.listener];
    if (this.console) inputs.push(this.console);
    this.outputs = [];
    this.running = true;
    process.on('SIGINT', this.sighandler);
    process.on('SIGTERM', this.sighandler);
    try {
      while (this.running) {
        // While a client is congested, its output can drain only if the
        // others stop adding to it: their lines, and newcomers, wait in the
        // kernel (TCP slows the senders down) until the congested one drains.
        const watched = this.congested.size === 0 ? inputs : inputs.filter(this.mayProceed);
        // The congested clients are the outputs: select() wakes the loop
        // when one of them has drained or broken, and the check below sees it.
        const outputs = [...this.congested.keys()];
        this.trace?.selecting(watched, outputs);
        const [readable, writable] = await this.reactor.select(watched, outputs, this.timeToNextDeadline());
        this.trace?.selected(readable, writable);
        for (const sock of readable) {
          if (!this.mayProceed(sock)) continue; // a client became congested this round
          if (sock === this.listener) {
            // The original accepts one connection per select(); the reactor
            // has gathered every connection that was waiting, and the whole
            // backlog is taken now.
            while (this.listener.readable) this.accept(inputs);
          } else if (sock === this.console) {
            if (this.console.readLine() === null) {
              // End of input (started with </dev/null, or in the background):
              // stdin would stay readable for ever, so stop watching it.
              inputs.splice(inputs.indexOf(this.console), 1);
              this.trace?.did('stdin: end of input, no longer watched');
            } else {
              this.trace?.did('stdin: a line, stopping');
              this.sighandler();
            }
          } else {
            this.serve(sock as ChatConnection, inputs);
          }
        }
        for (const client of this.congested.keys()) this.checkCongestion(client, inputs);
        this.dropLateHandshakes(inputs);
        this.trace?.done();
      }
    } finally {
      process.off('SIGINT', this.sighandler);
      process.off('SIGTERM', this.sighandler);
      this.closeAll(inputs);
    }
  }

  /** While a client is congested, only the console is served: a line, a
   * join or a departure from anyone would add to the output it cannot
   * drain. (A congested client that breaks is seen through select()'s
   * outputs, in run().) */
  private readonly mayProceed = (source: Source): boolean => this.congested.size === 0 || source === this.console;

  /** The listening server is readable: a client is waiting. */
  private accept(inputs: Source[]): void {
    const client = this.listener.accept()!;
    if (this.clientmap.size + this.handshakeDeadlines.size >= this.options.maxClients) {
      this.options.log(`Chat server: refusing connection ${client.id} from ${client.remoteAddress}: ${this.options.maxClients} clients already connected`);
      client.destroy();
      return;
    }
    // Python prints the address tuple, ('127.0.0.1', 54321), and the socket's
    // file descriptor where this prints the connection's number.
    this.options.log(`Chat server: got connection ${client.id} from ('${client.remoteAddress}', ${client.remotePort})`);
    // The original reads the name right here, blocking everyone until this
    // client speaks. Here the client simply joins the inputs; its first
    // frame, whenever it comes, is its handshake.
    inputs.push(client);
    this.handshakeDeadlines.set(client, Date.now() + this.options.handshakeTimeoutMs);
    this.trace?.did(`server: accepted connection ${client.id} from ${client.remoteAddress}`);
  }

  /** A client is readable. The original reads one message per select();
   * here every whole frame the client has sent so far is handled in this
   * round, so that the others get them in one write each (the frames are
   * already in memory, so nothing blocks). A client that becomes congested
   * meanwhile stops the round's reading. */
  private serve(sock: ChatConnection, inputs: Source[]): void {
    do {
      this.serveOne(sock, inputs);
    } while (!sock.closed && sock.readable && this.mayProceed(sock));
  }

  /** One frame from a client: its handshake, a chat line, or its departure. */
  private serveOne(sock: ChatConnection, inputs: Source[]): void {
    let data;
    try {
      data = receive(sock);
    } catch (error) {
      // Python's `except socket.error`: the connection broke; it is a hang-up.
      if (error !== sock.error && !(error instanceof ProtocolError)) throw error;
      if (error instanceof ProtocolError) this.drop(sock, error.reason, inputs);
      else this.hangUp(sock, inputs);
      return;
    }
    if (data === null) {
      this.hangUp(sock, inputs);
    } else if (!this.clientmap.has(sock)) {
      this.handshake(sock, data.text, data.shape, inputs);
    } else if (data.text !== '') {
      const told = this.broadcast(`\n#[${this.getClientName(sock)}]>>${data.text}`, sock);
      this.trace?.did(`${this.getClientName(sock)}: a line, sent to ${told}`);
    } else {
      // The original reads an empty message as a hang-up; it is just nothing to say.
      this.trace?.did(`${this.getClientName(sock)}: an empty message, ignored`);
    }
  }

  private handshake(client: ChatConnection, text: string, shape: PickleShape, inputs: Source[]): void {
    const problem = this.checkHandshake(text);
    if (problem !== undefined) {
      this.drop(client, problem, inputs);
      return;
    }
    this.handshakeDeadlines.delete(client);
    const cname = text.slice(NAME_PREFIX.length).trim();
    this.clients += 1;
    send(client, `CLIENT: ${client.remoteAddress}`, shape);
    this.clientmap.set(client, { address: client.remoteAddress, name: cname, shape });
    // Send joining information to the other clients.
    const told = this.broadcast(`\n(Connected: New client (${this.clients}) from ${this.getClientName(client)})`);
    this.outputs.push(client);
    this.trace?.did(`connection ${client.id}: handshake, now ${this.getClientName(client)}, ${told} told`);
  }

  private checkHandshake(text: string): string | undefined {
    if (!text.startsWith(NAME_PREFIX)) return `first message is not "${NAME_PREFIX}<name>"`;
    const name = text.slice(NAME_PREFIX.length).trim();
    if (name === '') return 'empty name';
    if ([...name].length > this.options.maxNameLength) return `name longer than ${this.options.maxNameLength} characters`;
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'name contains control characters';
    return undefined;
  }

  /** Closes a client the server will not keep, saying why in one log line. */
  private drop(client: ChatConnection, reason: string, inputs: Source[]): void {
    this.options.log(`Chat server: dropping ${this.describe(client)}: ${reason}`);
    this.hangUp(client, inputs);
  }

  /** Removes a client that left or was dropped, and tells everyone left. */
  private hangUp(sock: ChatConnection, inputs: Source[]): void {
    const info = this.clientmap.get(sock);
    if (info !== undefined) {
      this.options.log(`Chat server: ${sock.id} hung up`);
      this.clients -= 1;
    }
    sock.close();
    inputs.splice(inputs.indexOf(sock), 1);
    this.handshakeDeadlines.delete(sock);
    this.congested.delete(sock);
    const at = this.outputs.indexOf(sock);
    if (at !== -1) this.outputs.splice(at, 1);
    if (info !== undefined) {
      const told = this.broadcast(`\n(Now hung up: Client from ${info.name}@${info.address})`);
      this.trace?.did(`${info.name}@${info.address}: hung up, ${told} told`);
      this.clientmap.delete(sock);
    } else {
      this.trace?.did(`connection ${sock.id}: closed before its handshake`);
    }
  }

  /** `for output in self.outputs: if output != sock: send(output, msg)`.
   * The original pickles the message again for every output; the bytes are
   * the same each time, so here they are made once per pickle shape. */
  private broadcast(msg: string, sender?: ChatConnection): number {
    const frames: Partial<Record<PickleShape, Buffer>> = {};
    let told = 0;
    for (const output of this.outputs) {
      if (output === sender) continue;
      told += 1;
      const { shape } = this.clientmap.get(output)!;
      output.write((frames[shape] ??= frame(msg, shape)));
      if (output.pendingOutputBytes >= this.options.outputSoftLimit && !this.congested.has(output)) {
        this.congested.set(output, { lowestPending: output.pendingOutputBytes, progressAt: Date.now() });
        this.trace?.did(`${this.getClientName(output)}: congested`);
      }
    }
    return told;
  }

  /** The slow-consumer policy, applied to one congested client (see
   * docs/RELIABILITY.md): over the hard limit it is dropped; taking none of
   * its output for the grace period it is dropped; under the soft limit it
   * is congested no more. */
  private checkCongestion(client: ChatConnection, inputs: Source[]): void {
    const congestion = this.congested.get(client);
    if (congestion === undefined) return;
    const pending = client.pendingOutputBytes;
    const now = Date.now();
    if (client.error !== undefined) {
      this.hangUp(client, inputs);
    } else if (pending < this.options.outputSoftLimit) {
      this.congested.delete(client);
    } else if (pending > this.options.outputHardLimit) {
      client.destroy(); // its output is not worth keeping in memory
      this.drop(client, `${pending} bytes of output waiting, over the hard limit of ${this.options.outputHardLimit}`, inputs);
    } else if (pending < congestion.lowestPending) {
      congestion.lowestPending = pending;
      congestion.progressAt = now;
    } else if (now - congestion.progressAt >= this.options.slowClientGraceMs) {
      client.destroy();
      this.drop(client, `read nothing for ${this.options.slowClientGraceMs / 1000} s with ${pending} bytes of output waiting`, inputs);
    }
  }

  /** How long select() may sleep before a handshake deadline or a slow
   * client's grace period runs out. */
  private timeToNextDeadline(): number | undefined {
    let next = Infinity;
    // Handshake deadlines are set in the order clients arrive, so the first is the earliest.
    for (const deadline of this.handshakeDeadlines.values()) {
      next = deadline;
      break;
    }
    for (const { progressAt } of this.congested.values()) next = Math.min(next, progressAt + this.options.slowClientGraceMs);
    return next === Infinity ? undefined : Math.max(0, next - Date.now());
  }

  private dropLateHandshakes(inputs: Source[]): void {
    const now = Date.now();
    for (const [client, deadline] of this.handshakeDeadlines) {
      if (deadline > now) break;
      this.drop(client, `no handshake within ${this.options.handshakeTimeoutMs / 1000} s`, inputs);
    }
  }

  /** How the trace calls a source. */
  private nameOf(source: Source): string {
    if (source === this.listener) return 'server';
    if (source === this.console) return 'stdin';
    const client = source as ChatConnection;
    return this.clientmap.has(client) ? this.getClientName(client) : `connection ${client.id}`;
  }

  /** Names a client in a log line, by name once it has one. */
  private describe(client: ChatConnection): string {
    return this.clientmap.has(client)
      ? `client ${client.id} (${this.getClientName(client)})`
      : `connection ${client.id} from ${client.remoteAddress}`;
  }

  private closeAll(inputs: Source[]): void {
    // Goodbyes get half a second to leave, so that the process exits promptly
    // even when clients were busy sending.
    for (const source of inputs) source.close(500);
    this.listener.close();
    this.outputs = [];
    this.handshakeDeadlines.clear();
  }
}
