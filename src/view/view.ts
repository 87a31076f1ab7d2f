// The loop view: a page, served on 127.0.0.1 only, that shows the server's
// select() loop round by round, live, and lets a teacher hold it and step
// it. It is a guest of the loop: it reads the rounds the loop records
// (src/view/trace.ts) and holds the loop through src/view/hold.ts; the loop knows
// nothing else of it.
//
// Routes (every one needs the run's token, `?token=...`):
//   GET  /          the page (src/view/view.html)
//   GET  /events    the rounds, as Server-Sent Events; the hold's status;
//                   while the loop is held, what waits in the reactor's queue
//   GET  /recording a window of a recorded run, for replay
//   POST /command   {"command": "pause" | "step" | "resume"}
// A command must come from the page itself: from a loopback address, with
// the token, and with no Origin but the view's own (as 127.0.0.1, localhost
// or [::1]), so that no other web page the teacher has open can pause the
// server. (It listens on 127.0.0.1 only, so a browser reaches it as
// 127.0.0.1 or localhost; [::1] is accepted as a name for a tunnel that
// forwards it here.)
//
// The view is a guest in another way too: whatever its port is sent, it
// must not take what the chat needs. Its connections, their time to send a
// request, its event streams and what each may hold unsent are all small
// and bounded; a request it refuses is answered and closed, its body unread.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { LoopHold } from './hold.js';
import { howMany } from '../room/plural.js';
import type { Recording } from './recording.js';
import type { Round } from './trace.js';

/** The view's own limits. Every one is small: the view serves one teacher's
 * browser, maybe two, on this machine. */
export interface ViewLimits {
  /** Connections open at once to the view's port. At the cap, a newcomer
   * takes the place of the oldest connection that has not shown the token;
   * if every one has, the newcomer is closed at once. */
  maxConnections: number;
  /** Time a connection has to send a whole request's headers, and the whole request. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Pages streaming rounds at once; more are answered 503. */
  maxStreams: number;
  /** Bytes a stream may hold unsent: past this, rounds are not sent to it
   * (the page misses them) until it has read what it holds. */
  streamBufferBytes: number;
  /** A page that has read nothing of that for this long is cut off: its
   * memory is freed, and its browser reconnects once it can read again. */
  stalledStreamMs: number;
}

export const DEFAULT_VIEW_LIMITS: ViewLimits = {
  maxConnections: 32,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  maxStreams: 8,
  streamBufferBytes: 256 * 1024,
  stalledStreamMs: 10_000,
};

/** Rounds kept for a page that opens late, and sent to it first (as many
 * of the newest as fit in its stream's buffer). */
const ROUNDS_KEPT = 300;
/** How often a held loop's queue is sent. */
const QUEUE_EVERY_MS = 250;
/** Rows of the queue sent to the page; the rest are summed up. */
const QUEUE_ROWS = 12;
/** Rounds of a recording sent at once, at most. */
const RECORDING_WINDOW = 500;
/** The largest command body, in bytes. */
const MAX_COMMAND_BYTES = 1024;

/** One kind of event from one source, waiting in the reactor's queue. */
export interface QueuedEntry {
  kind: string;
  source: string;
  count: number;
  bytes: number;
}

/** The queue as the page shows it: a screenful of its largest entries, and
 * the totals of everything in it. */
export interface QueueSummary {
  shown: QueuedEntry[];
  sources: number;
  events: number;
  bytes: number;
  /** Events by kind, over the whole queue. */
  kinds: Record<string, number>;
}

export interface LoopViewOptions {
  /** 0 for any free port. */
  port: number;
  /** What the loop is held by; absent for a replay. */
  hold?: LoopHold;
  /** What waits in the reactor's queue, by name. */
  queued?: () => QueuedEntry[];
  /** A recorded run to replay instead of a live loop. */
  recording?: Recording;
  limits?: Partial<ViewLimits>;
}

export class LoopView {
  readonly token = randomBytes(16).toString('hex');
  readonly limits: ViewLimits;
  /** The newest rounds, each as the event it is sent as. */
  private readonly rounds: string[] = [];
  /** Every page streaming rounds, since when it has been too slow to send
   * to, and whether it missed a change of the hold's status meanwhile. */
  private readonly pages = new Map<ServerResponse, { stalledSince: number | undefined; statusOwed: boolean }>();
  private readonly page = readFileSync(new URL('./view.html', import.meta.url), 'utf8').replace('/*WHERE*/ null', JSON.stringify(locateSteps()));
  private queueTimer: NodeJS.Timeout | undefined;
  private lastStatus = '';
  /** Every connection to the view's port, oldest first, and whether it has
   * sent a request with the token. */
  private readonly connections = new Map<Socket, boolean>();

  private constructor(
    private readonly server: Server,
    private readonly options: LoopViewOptions,
    limits: ViewLimits,
  ) {
    this.limits = limits;
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('request', (request, response) => this.handle(request, response));
    options.hold?.onChange(() => this.holdChanged());
  }

  static async start(options: LoopViewOptions): Promise<LoopView> {
    const limits = { ...DEFAULT_VIEW_LIMITS, ...options.limits };
    const server = createServer({
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node looks for connections over those times (30 s unless told).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
      keepAliveTimeout: 2000,
      maxHeaderSize: 8 * 1024,
    });
    const view = new LoopView(server, options, limits);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, '127.0.0.1', () => resolve());
    });
    return view;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/?token=${this.token}`;
  }

  /** Pages streaming rounds now. */
  get streams(): number {
    return this.pages.size;
  }

  /** Bytes written to the pages' streams and not yet sent. */
  get bufferedBytes(): number {
    let bytes = 0;
    for (const page of this.pages.keys()) bytes += page.writableLength;
    return bytes;
  }

  /** A new connection to the view's port. The cap is shared with anyone on
   * this machine, so it must not be theirs to fill: at the cap, the
   * newcomer takes the place of the oldest connection that has not shown
   * the token (a neighbour's idle connections go first, oldest first), and
   * a connection that has shown it is never pushed out by one that has
   * not. Only when every connection has shown the token is the newcomer
   * closed. Either way the descriptor is freed at once, and the chat's
   * port never waits for one. */
  private admit(socket: Socket): void {
    if (this.connections.size >= this.limits.maxConnections) {
      const stranger = [...this.connections].find(([, trusted]) => !trusted)?.[0];
      if (stranger === undefined) {
        socket.destroy();
        return;
      }
      this.connections.delete(stranger);
      stranger.destroy();
    }
    this.connections.set(socket, false);
    // Node's header timeout starts with the first byte: a connection that
    // sends none would be kept for ever.
    const timer = setTimeout(() => socket.bytesRead === 0 && socket.destroy(), this.limits.headersTimeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      this.connections.delete(socket);
    });
  }

  /** A round is done: kept, and sent to every page. (Its actions are
   * few: the recorder keeps at most ACTIONS_KEPT of them.) */
  readonly add = (round: Round): void => {
    const message = event('round', round);
    this.rounds.push(message);
    if (this.rounds.length > ROUNDS_KEPT) this.rounds.shift();
    this.broadcast(message);
  };

  close(): void {
    clearInterval(this.queueTimer);
    for (const page of this.pages.keys()) page.end();
    this.server.close();
    // A browser keeps its connections open; they must not keep the process.
    this.server.closeAllConnections();
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const problem = this.refusal(request, url);
    if (problem !== undefined) {
      this.refuse(request, response, 403, problem);
      return;
    }
    if (this.connections.has(request.socket)) this.connections.set(request.socket, true);
    if (request.method === 'GET' && url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(this.page);
    } else if (request.method === 'GET' && url.pathname === '/events') {
      this.stream(request, response);
    } else if (request.method === 'GET' && url.pathname === '/recording') {
      this.recording(url, response);
    } else if (request.method === 'POST' && url.pathname === '/command') {
      this.command(request, response);
    } else {
      this.refuse(request, response, 404, 'not found');
    }
  }

  /** Answers and closes. A body the request still has to send is not read:
   * Node would otherwise read it all to keep the connection for the next
   * request, however large the peer says it is. */
  private refuse(request: IncomingMessage, response: ServerResponse, status: number, reason: string): void {
    const hasBody = request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
    const closing = hasBody && !request.complete;
    response.writeHead(status, { 'content-type': 'text/plain', ...(closing ? { connection: 'close' } : {}) }).end(`${reason}\n`);
  }

  /** Why a request is refused, if it is. */
  private refusal(request: IncomingMessage, url: URL): string | undefined {
    if (!isLoopback(request.socket.remoteAddress)) return 'only this machine may use the loop view';
    // A name that is not this machine's, even one that resolves to it, is
    // how another site's page would reach the view (DNS rebinding).
    const host = request.headers.host ?? '';
    if (!this.ownAddresses().includes(`http://${host}`)) return `the view is reached as 127.0.0.1 or localhost on port ${this.port}, not as ${host}`;
    if (!sameSecret(url.searchParams.get('token') ?? '', this.token)) return 'a token is needed: use the address the server printed';
    const origin = request.headers.origin;
    if (origin !== undefined && !this.ownAddresses().includes(origin)) return `requests from ${origin} are not accepted`;
    return undefined;
  }

  /** The page's own origins: this machine by any of its loopback names. */
  private ownAddresses(): string[] {
    return ['127.0.0.1', 'localhost', '[::1]'].map((name) => `http://${name}:${this.port}`);
  }

  private stream(request: IncomingMessage, response: ServerResponse): void {
    if (this.pages.size >= this.limits.maxStreams) {
      const pages = this.limits.maxStreams;
      this.refuse(request, response, 503, `${howMany(pages, 'page')} ${pages === 1 ? 'is' : 'are'} watching already, the most the view serves: close one`);
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.pages.set(response, { stalledSince: undefined, statusOwed: false });
    response.on('close', () => this.pages.delete(response));
    // A page that missed a change of the hold while its stream was full
    // gets the status as soon as the stream has room again.
    response.on('drain', () => this.send(response, ''));
    this.send(response, event('hello', { replay: this.options.recording !== undefined, hold: this.options.hold?.status }));
    // The newest rounds that fit in the stream's buffer, oldest first.
    let fit = this.rounds.length;
    for (let bytes = 0; fit > 0 && bytes + this.rounds[fit - 1]!.length <= this.limits.streamBufferBytes; fit--) {
      bytes += this.rounds[fit - 1]!.length;
    }
    for (const message of this.rounds.slice(fit)) this.send(response, message);
  }

  /** A window of a recorded run: `?from=N&count=M` (from 0, at most
   * RECORDING_WINDOW rounds), as `{ total, from, rounds }`, and `cut` (its
   * line and bytes) when the recording's last line was cut short. The page asks
   * for the rounds around the one it shows; the recording is never sent,
   * nor kept, whole. */
  private recording(url: URL, response: ServerResponse): void {
    const recording = this.options.recording;
    if (recording === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('this view is live: there is no recording\n');
      return;
    }
    const from = Math.max(0, Math.min(recording.total, Math.trunc(Number(url.searchParams.get('from') ?? 0)) || 0));
    const count = Math.max(1, Math.min(RECORDING_WINDOW, Math.trunc(Number(url.searchParams.get('count') ?? RECORDING_WINDOW)) || RECORDING_WINDOW));
    let rounds: Round[];
    try {
      rounds = recording.read(from, count);
    } catch (error) {
      response.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`);
      return;
    }
    response
      .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      .end(JSON.stringify({ total: recording.total, from, rounds, cut: recording.cut }));
  }

  private command(request: IncomingMessage, response: ServerResponse): void {
    const announced = Number(request.headers['content-length'] ?? 0);
    if (!(announced <= MAX_COMMAND_BYTES)) {
      this.refuse(request, response, 413, `a command is at most ${MAX_COMMAND_BYTES} bytes`);
      return;
    }
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      if (response.headersSent) return;
      body += chunk;
      if (body.length > MAX_COMMAND_BYTES && !response.headersSent) this.refuse(request, response, 413, `a command is at most ${MAX_COMMAND_BYTES} bytes`);
    });
    request.on('end', () => {
      if (response.headersSent) return;
      const hold = this.options.hold;
      let command: unknown;
      try {
        command = (JSON.parse(body) as { command?: unknown }).command;
      } catch {
        command = undefined;
      }
      if (hold === undefined || (command !== 'pause' && command !== 'step' && command !== 'resume')) {
        response.writeHead(400, { 'content-type': 'text/plain' }).end('the command is pause, step or resume, on a live loop\n');
        return;
      }
      hold[command]();
      response.writeHead(204).end();
    });
  }

  /** The hold's status goes to every page when it changes; while the loop
   * is held, what piles up in the reactor's queue is sent a few times a
   * second. */
  private holdChanged(): void {
    const status = this.options.hold!.status;
    const message = event('hold', status);
    if (message === this.lastStatus) return;
    this.lastStatus = message;
    this.broadcast(message);
    const { queued } = this.options;
    if (status.state === 'running' || queued === undefined) {
      clearInterval(this.queueTimer);
      this.queueTimer = undefined;
      return;
    }
    if (this.queueTimer !== undefined) return;
    const send = () => this.broadcast(event('queue', summarise(queued())));
    send();
    this.queueTimer = setInterval(send, QUEUE_EVERY_MS);
    this.queueTimer.unref();
  }

  private broadcast(message: string): void {
    for (const page of this.pages.keys()) this.send(page, message);
  }

  /** Writes to a page that has room: each stream holds at most its buffer
   * and one message more. A round it has no room for is missed; a change
   * of the hold's status is not: the page gets the newest status once it
   * has room, first. A page that has taken nothing for too long is cut off. */
  private send(page: ServerResponse, message: string): void {
    const stream = this.pages.get(page);
    if (stream === undefined || page.destroyed) return;
    if (page.writableLength <= this.limits.streamBufferBytes) {
      stream.stalledSince = undefined;
      if (stream.statusOwed && message !== this.lastStatus) page.write(this.lastStatus);
      stream.statusOwed = false;
      if (message !== '') page.write(message);
      return;
    }
    if (message === this.lastStatus) stream.statusOwed = true;
    const now = Date.now();
    stream.stalledSince ??= now;
    if (now - stream.stalledSince >= this.limits.stalledStreamMs) {
      this.pages.delete(page);
      page.destroy();
    }
  }
}

/** One Server-Sent Event. */
function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The queue in a screenful: its largest entries, and the totals. */
export function summarise(queued: readonly QueuedEntry[]): QueueSummary {
  const kinds: Record<string, number> = {};
  let events = 0;
  let bytes = 0;
  for (const entry of queued) {
    kinds[entry.kind] = (kinds[entry.kind] ?? 0) + entry.count;
    events += entry.count;
    bytes += entry.bytes;
  }
  const shown = [...queued].sort((a, b) => b.bytes - a.bytes || b.count - a.count).slice(0, QUEUE_ROWS);
  return { shown, sources: new Set(queued.map((entry) => entry.source)).size, events, bytes, kinds };
}

/** Where in src/room/server.ts each kind of step is done, found by the code
 * itself, so that the page's pointers follow the code when it moves. */
function locateSteps(): Record<string, number> {
  const lines = readFileSync(new URL('../room/server.ts', import.meta.url), 'utf8').split('\n');
  const markers: Record<string, string> = {
    select: 'await this.reactor.select(watched',
    accept: 'this.accept(inputs)',
    handshake: 'private handshake(',
    broadcast: 'this.broadcast(msg, sock)',
    refuse: 'private refuse(',
    notRelayed: 'const tooLarge = this.tooLargeToSend(msg)',
    hangUp: 'private hangUp(',
    console: 'sock === this.console',
    sighandler: 'sighandler = (): void',
    policy: 'this.policy.due(',
  };
  return Object.fromEntries(Object.entries(markers).map(([step, marker]) => [step, lines.findIndex((line) => line.includes(marker)) + 1]));
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
