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
import { Admission, refusalReserve } from './admission.js';
import { type LogTopic, RateLimitedLog } from './log.js';
import { pickledSize } from '../wire/pickle.js';
import { howMany } from './plural.js';
import { ServerPolicy, type Limits, type Verdict } from './policy.js';
import { SelectError, type Source } from '../recipe/select.js';
import { type Hold, RoomReactor } from './reactor.js';
import type { RoomConnection, RoomConsole, RoomListener } from './sources.js';
import { nameProblem, relayedLine } from './text.js';
import { formatRound, type LoopState, type Round, RoundRecorder } from '../view/trace.js';
import { DEFAULT_MAX_FRAME_SIZE, type DecodedPickle, FrameDecoder, frame, ProtocolError, type PickleForm, receive, send } from '../wire/wire.js';

export type ChatConnection = RoomConnection;

export interface ChatServerOptions extends Limits {
  port: number;
  host: string;
  /** listen()'s backlog: connections the kernel queues before accept. */
  backlog: number;
  /** The largest frame received or sent, in bytes (the pickle, without the header). */
  maxFrameSize: number;
  /** The largest first frame (the handshake), in bytes. */
  maxHandshakeSize: number;
  maxNameLength: number;
  /** Connections in the room at once, named or in the handshake. A newcomer
   * past it is told the room is full. Node holds at most this many sockets
   * plus `refusalReserve(maxClients)` (for telling newcomers why, and for
   * connections closing), counting those not yet accepted; past that it
   * closes a newcomer at once, without a word. */
  maxClients: number;
  /** TCP keepalive: after this many milliseconds (whole seconds) without a
   * packet from the peer, the kernel probes it, 10 probes 1 s apart (Node's
   * setting); with no answer the connection fails, and its hang-up is
   * announced. 0 for no keepalive. */
  keepaliveMs: number;
  /** Connections in the room from one address, loopback included; 0 for no
   * limit; null for the default (src/room/admission.ts), which spares loopback. */
  maxPerAddress: number | null;
  /** Where typed lines stop the server; null for none. */
  console: ReadlineInterface | null;
  /** Where the server's own messages go (one line each). */
  log: (line: string) => void;
  /** Where `--trace` writes a line per loop round; null for no trace. */
  trace: ((line: string) => void) | null;
  /** Called with every round of the loop, state included (`--record`,
   * the loop view); null for none. */
  onRound: ((round: Round) => void) | null;
  /** What holds the loop before each round (the loop view's LoopHold,
   * src/view/hold.ts); null for nothing. */
  hold: Hold | null;
}

export const DEFAULT_SERVER_OPTIONS: ChatServerOptions = {
  port: 8800,
  host: '127.0.0.1',
  backlog: 511,
  handshakeTimeoutMs: 10_000,
  frameTimeoutMs: 30_000,
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  maxHandshakeSize: 1024,
  inputBudget: 64 * 1024 * 1024,
  maxNameLength: 64,
  maxClients: 10_000,
  keepaliveMs: 60_000,
  // Half the room, at most 64, loopback free: see defaultMaxPerAddress.
  maxPerAddress: null,
  outputSoftLimit: 1024 * 1024,
  outputHardLimit: 8 * 1024 * 1024,
  slowClientGraceMs: 5_000,
  console: null,
  log: (line) => console.log(line),
  trace: null,
  onRound: null,
  hold: null,
};

/** What the original keeps in `clientmap`: the address and the name, plus
 * the pickle shape and string type its handshake came in, so that it is
 * answered in kind (the book's Python 2 client dies of a `unicode` é). */
export interface ClientInfo extends PickleForm {
  address: string;
  name: string;
  /** The form as one key, made once at the handshake: a broadcast keeps
   * the frame it encoded for each form under it. (Made anew for every
   * client a broadcast reached, the key cost a fifth of a burst's CPU.) */
  form: FormKey;
}

type FormKey = `${PickleForm['shape']} ${PickleForm['stringType']}`;

const NAME_PREFIX = 'NAME: ';

/** The signals that stop the server: Ctrl-C, `kill`, and a terminal that closed. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class ChatServer {
  /** The number of clients that have completed the handshake. */
  clients = 0;
  /** client → its address and name. */
  readonly clientmap = new Map<ChatConnection, ClientInfo>();
  /** Every client that has completed the handshake: the ones a message goes to. */
  outputs: ChatConnection[] = [];
  private running = false;
  /** Who may come in, and under which name. */
  private readonly admission: Admission<ChatConnection>;
  /** Where connections accepted and refused are logged: a flood of them
   * is summed up, not written line by line. */
  private readonly connectionLog: RateLimitedLog;
  /** run()'s `inputs`, for the loop view's picture of the state. */
  private inputs: readonly Source[] = [];
  private readonly options: ChatServerOptions;
  private readonly reactor: RoomReactor;
  /** The limits: deadlines, the input budget, slow consumers. */
  private readonly policy: ServerPolicy<ChatConnection>;
  private readonly listener: RoomListener;
  private readonly console: RoomConsole | null;

  private constructor(
    readonly server: Server,
    options: ChatServerOptions,
  ) {
    this.options = options;
    const limits = { maxFrameSize: options.maxFrameSize, maxFirstFrameSize: options.maxHandshakeSize };
    // The loop view's hold, if any, is the reactor's: select() waits on it
    // once the round's output has gone, and the loop knows nothing of it.
    const recorder = this.recordRounds(options);
    this.reactor = new RoomReactor({
      makeInbox: () => new FrameDecoder(limits),
      inputBudget: options.inputBudget,
      // Output gathered for the next rounds is not congestion: it leaves at
      // the next flush. Kept under the soft limit, it never looks like it.
      gatherBytes: options.outputSoftLimit / 2,
      hold: options.hold ?? undefined,
      watcher: recorder ?? undefined,
    });
    this.policy = new ServerPolicy(options, this.reactor.flow, this.reactor.watcher);
    this.listener = this.reactor.listen(server, { maxConnections: options.maxClients + refusalReserve(options.maxClients) });
    const { maxClients, maxPerAddress } = options;
    this.admission = new Admission({ maxClients, maxPerAddress });
    this.console = options.console && this.reactor.console(options.console);
    // After recordRounds: under --trace, its lines wait for their round's.
    this.connectionLog = new RateLimitedLog(options.log);
  }

  /** Binds and listens (the original's __init__). Rejects with Node's error,
   * such as EADDRINUSE, if it cannot. */
  static async listen(overrides: Partial<ChatServerOptions> = {}): Promise<ChatServer> {
    const options = { ...DEFAULT_SERVER_OPTIONS, ...overrides };
    // Node sets SO_REUSEADDR on listening sockets itself. A peer whose host
    // dies silently (no FIN, no reset) sends nothing more: without
    // keepalive, a quiet room would keep it for ever. Node turns it on for
    // each connection it accepts.
    const server = createServer({ keepAlive: options.keepaliveMs > 0, keepAliveInitialDelay: options.keepaliveMs });
    // Made before the socket listens, its console with it: a console that
    // fails while a host name is looked up (nohup's write-only stdin) must
    // find someone listening for its error.
    const chat = new ChatServer(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: options.port, host: options.host, backlog: options.backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    options.log(`Server listening to port: ${chat.port} ...`);
    return chat;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : this.options.port;
  }

  /** Python installs this with signal.signal(SIGINT, ...); Node calls it
   * from process.on('SIGINT') (and for SIGTERM and SIGHUP). It only ends
   * the loop: run() closes everything once the loop is out of select(). */
  sighandler = (): void => {
    if (!this.running) return;
    // What the log counted this second happened before the stop: summed up
    // now, before the line that says the server stops.
    this.connectionLog.flush();
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
    this.inputs = inputs;
    this.outputs = [];
    this.running = true;
    for (const signal of STOP_SIGNALS) process.on(signal, this.sighandler);
    try {
      while (this.running) {
        // While a client is congested, its output can drain only if the
        // others stop adding to it: their lines, and newcomers, wait in the
        // kernel (TCP slows the senders down) until the congested one drains.
        // The reactor reads nothing from a connection select() is not given.
        const watched = this.policy.anyCongested ? inputs.filter(this.mayProceed) : inputs;
        // The congested clients are the outputs: select() wakes the loop
        // when one of them has drained or broken, and the policy sees it.
        const outputs = this.policy.congestedClients;
        let readable: Source[];
        try {
          [readable] = await this.reactor.select(watched, outputs, soonest(this.policy.timeToNextDeadline(), this.connectionLog.timeToSummary()));
        } catch (error) {
          // sighandler interrupted it.
          if (error instanceof SelectError) break;
          throw error;
        }
        for (const sock of readable) {
          if (!this.mayProceed(sock)) continue; // a client became congested this round
          if (sock === this.listener) {
            this.reportRefused();
            // The original accepts one connection per select(); the reactor
            // has gathered every connection that was waiting, and the whole
            // backlog is taken now.
            while (this.listener.waiting.length > 0) this.accept(inputs);
          } else if (sock === this.console) {
            if (this.console.readLine() === null) {
              // End of input (started with </dev/null, say):
              // stdin would stay readable for ever, so stop watching it.
              inputs.splice(inputs.indexOf(this.console), 1);
              const failure = this.console.failure;
              if (failure) this.options.log(`Chat server: the console cannot be read (${failure.message}); serving on without it`);
            } else {
              this.sighandler();
            }
          } else {
            this.serve(sock as ChatConnection, inputs);
          }
        }
        for (const verdict of this.policy.due(this.outputs)) this.letGo(verdict, inputs);
        this.connectionLog.due();
      }
    } finally {
      // The last round is over: every other ends where the next select() starts.
      this.reactor.loopEnded();
      for (const signal of STOP_SIGNALS) process.off(signal, this.sighandler);
      this.closeAll(inputs);
      // Anything counted since the stop, in the round it came in.
      this.connectionLog.flush();
    }
  }

  /** While a client is congested, only the console is served: a line, a
   * join or a departure from anyone would add to the output it cannot
   * drain. (A congested client that breaks is seen through select()'s
   * outputs, in run().) */
  private readonly mayProceed = (source: Source): boolean => !this.policy.anyCongested || source === this.console;

  /** Connections Node closed at once: the room and the sockets kept for
   * refusing were all taken. */
  private reportRefused(): void {
    const { count, lastFrom } = this.listener.takeRefused();
    if (count === 0) return;
    const { maxClients } = this.options;
    const open = maxClients + refusalReserve(maxClients);
    this.connectionLog.line(REFUSED, `Chat server: refused a connection from ${lastFrom} at once: ${howMany(open, 'socket')} open, the most it holds`, {
      kind: 'closed at once',
      count,
    });
  }

  /** The listening server is readable: a client is waiting. */
  private accept(inputs: Source[]): void {
    const client = this.listener.accept()!;
    const address = client.remoteAddress;
    const refusal = this.admission.refusal(address);
    if (refusal !== undefined) {
      if (!this.admission.mayTell(address)) {
        // Several from this address wait for their refusal already.
        client.destroy();
        this.connectionLog.line(REFUSED, `Chat server: refused connection ${client.id} from ${address} at once: ${refusal}`, { kind: 'closed at once' });
        return;
      }
      // The refusal goes out once the newcomer has said something, in the
      // pickle shape it speaks (the Python client of the book's second
      // edition could not read the other one). Its first frame is small
      // (--max-handshake-size) and has the handshake deadline.
      this.admission.refuseLater(client, address, refusal);
      inputs.push(client);
      this.policy.admit(client);
      return;
    }
    this.admission.enter(client, address);
    // Python prints the address tuple, ('127.0.0.1', 54321), and the socket's
    // file descriptor where this prints the connection's number. A flood of
    // connections is summed up a second at a time.
    this.connectionLog.line(ACCEPTED, `Chat server: got connection ${client.id} from ('${client.remoteAddress}', ${client.remotePort})`);
    // The original reads the name right here, blocking everyone until this
    // client speaks. Here the client simply joins the inputs; its first
    // frame, whenever it comes, is its handshake.
    inputs.push(client);
    this.policy.admit(client);
  }

  /** A client is readable: one message from it, its handshake, a chat line
   * or its departure. Like the recipe's `receive(sock)`, one message a
   * round: whatever else the client has sent waits, and select() reports
   * it again next round, so a client sending flat out gets one turn a
   * round like everyone else. */
  private serve(sock: ChatConnection, inputs: Source[]): void {
    let data: DecodedPickle | null;
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
      this.handshake(sock, data.text, data, inputs);
    } else if (data.text !== '') {
      // (An empty message is nothing to say: the original took it for a hang-up.)
      // Control characters are relayed visibly, never as themselves: a
      // client that trusted its server would obey them (see src/room/text.ts).
      const msg = relayedLine(this.getClientName(sock), data.text);
      const tooLarge = this.tooLargeToSend(msg);
      if (tooLarge !== undefined) {
        // Its clients would refuse the frame and leave; the line is refused instead.
        this.options.log(`Chat server: not relaying a line from ${this.describe(sock)}: ${tooLarge}`);
        this.tell(sock, `\n(Not relayed: ${tooLarge})`);
        return;
      }
      this.broadcast(msg, sock);
    }
  }

  private handshake(client: ChatConnection, text: string, { shape, stringType }: PickleForm, inputs: Source[]): void {
    const cname = text.slice(NAME_PREFIX.length).trim();
    const problem = this.admission.refusalFor(client) ?? this.checkHandshake(text) ?? this.admission.claim(client, cname);
    if (problem !== undefined) {
      this.refuse(client, problem, { shape, stringType }, inputs);
      return;
    }
    this.policy.named(client);
    this.clients += 1;
    send(client, `CLIENT: ${client.remoteAddress}`, shape, stringType);
    this.clientmap.set(client, { address: client.remoteAddress, name: cname, shape, stringType, form: `${shape} ${stringType}` });
    // Send joining information to the other clients.
    this.broadcast(`\n(Connected: New client (${this.clients}) from ${this.getClientName(client)})`, client);
    this.outputs.push(client);
    this.options.log(`Chat server: connection ${client.id} joined as ${this.getClientName(client)}`);
  }

  private checkHandshake(text: string): string | undefined {
    if (!text.startsWith(NAME_PREFIX)) return `first message is not "${NAME_PREFIX}<name>"`;
    return nameProblem(text.slice(NAME_PREFIX.length).trim(), this.options.maxNameLength);
  }

  /** Why a message may not be sent, if it would make a frame larger than
   * the frame limit: a client of this server would refuse it. (Relayed
   * text can grow: the prefix is added, and text that came as Latin-1 in a
   * protocol-0 pickle takes two bytes a character in UTF-8.) */
  private tooLargeToSend(msg: string): string | undefined {
    const { maxFrameSize } = this.options;
    // UTF-8 takes at most three bytes per UTF-16 unit: most lines are
    // clearly small enough without counting.
    if (msg.length * 3 + 16 <= maxFrameSize) return undefined;
    const size = Math.max(pickledSize(msg, 'str'), pickledSize(msg, 'tuple'));
    return size > maxFrameSize ? `as relayed it would be a frame of ${size} bytes, over the limit of ${maxFrameSize}` : undefined;
  }

  /** Lets go of a client the policy will not keep. */
  private letGo({ client, reason, discardOutput }: Verdict<ChatConnection>, inputs: Source[]): void {
    if (client.closed) return;
    if (discardOutput) client.destroy();
    if (reason === undefined) this.hangUp(client, inputs);
    else this.drop(client, reason, inputs);
  }

  /** Closes a client the server will not keep, saying why in one log line
   * and, where it can still be told, to the client. A connection that has
   * not joined is refused instead (it is told in the refusal's form). */
  private drop(client: ChatConnection, reason: string, inputs: Source[]): void {
    if (!this.clientmap.has(client)) {
      this.refuse(client, this.admission.refusalFor(client) ?? reason, UNKNOWN_FORM, inputs);
      return;
    }
    this.options.log(`Chat server: dropping ${this.describe(client)}: ${reason}`);
    this.tell(client, `\n(Dropped: ${reason})`);
    this.hangUp(client, inputs);
  }

  /** Turns a newcomer away: the handshake's reply, so that a client of the
   * recipe reads on, then the reason, then the close. */
  private refuse(client: ChatConnection, reason: string, { shape, stringType }: PickleForm, inputs: Source[]): void {
    this.connectionLog.line(REFUSED, `Chat server: refused connection ${client.id} from ${client.remoteAddress}: ${reason}`, { kind: refusalKind(reason) });
    send(client, `CLIENT: ${client.remoteAddress}`, shape, stringType);
    send(client, `\n(Refused: ${reason})`, shape, stringType);
    this.hangUp(client, inputs);
  }

  /** One notice to one client, in its form; none to one whose output is discarded or gone. */
  private tell(client: ChatConnection, notice: string): void {
    if (client.closed || client.error !== undefined) return;
    const { shape, stringType } = this.clientmap.get(client) ?? UNKNOWN_FORM;
    send(client, notice, shape, stringType);
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
    this.policy.forget(sock);
    this.admission.leave(sock);
    const at = this.outputs.indexOf(sock);
    if (at !== -1) this.outputs.splice(at, 1);
    if (info !== undefined) {
      this.clientmap.delete(sock);
      this.broadcast(`\n(Now hung up: Client from ${info.name}@${info.address})`);
    }
  }

  /** `for output in self.outputs: if output != sock: send(output, msg)`.
   * It does not call `send`: the recipe's `send(output, msg)` pickles the
   * message again for every output, but the bytes are the same each time,
   * so here one frame is encoded once per form and written to many. And it
   * walks the clientmap, whose clients are the outputs, in the order they
   * joined, each with the form it reads: looking each output up in it took
   * a seventh of the server's time in a storm of joins. (`forEach` hands
   * over each entry as it is; `for...of` would make an array of each.) */
  private broadcast(msg: string, sender?: ChatConnection): void {
    const frames: Partial<Record<FormKey, Buffer>> = {};
    this.clientmap.forEach(({ shape, stringType, form }, output) => {
      if (output === sender) return;
      frames[form] ??= frame(msg, shape, stringType);
      output.write(frames[form]);
      this.policy.wrote(output);
    });
  }

  /** A recorder of rounds if anyone wants them: the trace prints them,
   * `onRound` takes them with the state the recipe keeps. */
  private recordRounds(options: ChatServerOptions): RoundRecorder | null {
    if (!options.trace && !options.onRound) return null;
    const recorder = new RoundRecorder(
      (source) => this.nameOf(source as Source),
      () => this.snapshot(),
      options.onRound !== null,
    );
    const { trace, onRound } = options;
    if (trace) {
      recorder.onRound((round) => trace(formatRound(round)));
      // A log line said while a round works waits for that round's trace
      // line, so that the two read in the order things happened. (These
      // options are the server's own copy, made by listen().)
      options.log = recorder.inOrder(options.log);
    }
    if (onRound) recorder.onRound(onRound);
    return recorder;
  }

  /** The state the recipe keeps, by name, for the loop view. */
  private snapshot(): LoopState {
    const inputs = this.inputs;
    const shown = inputs.slice(0, 200);
    return {
      inputs: shown.map((source) => this.nameOf(source)),
      outputs: this.outputs.slice(0, 200).map((client) => this.nameOf(client)),
      clientmap: [...this.clientmap.values()].slice(0, 200).map(({ name, address, shape }) => ({ name, address, shape })),
      connections: shown
        .filter((source): source is ChatConnection => source !== this.listener && source !== this.console)
        .map((client) => ({ name: this.nameOf(client), inbox: client.inputBytes, outbox: client.pendingOutputBytes })),
    };
  }

  /** What waits in the reactor's queue for the next select(), by name. */
  queued(): { kind: string; source: string; count: number; bytes: number }[] {
    return this.reactor.queued().map((entry) => ({ ...entry, source: this.nameOf(entry.source) }));
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
    return this.clientmap.has(client) ? `client ${client.id} (${this.getClientName(client)})` : `connection ${client.id} from ${client.remoteAddress}`;
  }

  private closeAll(inputs: Source[]): void {
    // Goodbyes get half a second to leave, so that the process exits promptly
    // even when clients were busy sending.
    for (const source of inputs) if (source !== this.listener && source !== this.console) (source as ChatConnection).close(500);
    this.console?.close();
    this.listener.close();
    this.outputs = [];
  }
}

/** How the log sums up connections it did not write line by line:
 * `Chat server: accepted 758 more connections in the last second; the last: ...`. */
const ACCEPTED: LogTopic = { prefix: 'Chat server: ', verb: 'accepted', noun: 'connection' };
const REFUSED: LogTopic = { prefix: 'Chat server: ', verb: 'refused', noun: 'connection' };

/** How a connection that has said nothing readable is answered. */
const UNKNOWN_FORM: PickleForm = { shape: 'str', stringType: 'unicode' };

/** The smaller of two optional timeouts. */
function soonest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : Math.min(a, b);
}

/** How a refusal is counted in the log's summary. */
function refusalKind(reason: string): string {
  if (reason.startsWith('the room is full')) return 'room full';
  if (reason.startsWith('too many connections from')) return 'too many from one address';
  if (/^the name ".*" is in use$/s.test(reason)) return 'name in use';
  if (reason.startsWith('name ') || reason === 'empty name') return 'name not allowed';
  if (reason.startsWith('no handshake')) return 'no handshake in time';
  return 'bad first frame';
}
