// The loop view: a page, served on 127.0.0.1 only, that shows the server's
// select() loop round by round, live, and lets a teacher hold it and step
// it. It is a guest of the loop: it reads the rounds the loop records
// (src/trace.ts) and holds the loop through src/hold.ts; the loop knows
// nothing else of it.
//
// Routes (every one needs the run's token, `?token=...`):
//   GET  /          the page (src/view.html)
//   GET  /events    the rounds, as Server-Sent Events; while the loop is
//                   held, what waits in the reactor's queue too
//   GET  /recording a recorded run, for replay
//   POST /command   {"command": "pause" | "step" | "resume"}
// A command must come from the page itself: from a loopback address, with
// the token, and with no Origin but the view's own, so that no other web
// page the teacher has open can pause the server.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { LoopHold } from './hold.js';
import type { Round } from './trace.js';

/** Rounds kept for a page that opens late, and sent to it first. */
const ROUNDS_KEPT = 300;
/** A page that reads its events this slowly (bytes waiting) misses rounds rather than fill memory. */
const SLOW_PAGE_BYTES = 1024 * 1024;
/** How often a held loop's queue is sent. */
const QUEUE_EVERY_MS = 250;

export interface LoopViewOptions {
  /** 0 for any free port. */
  port: number;
  /** What the loop is held by; absent for a replay. */
  hold?: LoopHold;
  /** What waits in the reactor's queue, by name. */
  queued?: () => { kind: string; source: string; count: number; bytes: number }[];
  /** A recorded run to replay instead of a live loop. */
  recording?: Round[];
}

export class LoopView {
  readonly token = randomBytes(16).toString('hex');
  private readonly rounds: Round[] = [];
  private readonly pages = new Set<ServerResponse>();
  private readonly page = readFileSync(new URL('./view.html', import.meta.url), 'utf8').replace('/*WHERE*/ null', JSON.stringify(locateSteps()));
  private queueTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly server: Server,
    private readonly options: LoopViewOptions,
  ) {
    server.on('request', (request, response) => this.handle(request, response));
  }

  static async start(options: LoopViewOptions): Promise<LoopView> {
    const server = createServer();
    const view = new LoopView(server, options);
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

  /** A round is done: kept, and sent to every page. */
  readonly add = (round: Round): void => {
    this.rounds.push(round);
    if (this.rounds.length > ROUNDS_KEPT) this.rounds.shift();
    this.broadcast('round', round);
  };

  close(): void {
    clearInterval(this.queueTimer);
    for (const page of this.pages) page.end();
    this.server.close();
    // A browser keeps its connections open; they must not keep the process.
    this.server.closeAllConnections();
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const problem = this.refusal(request, url);
    if (problem !== undefined) {
      response.writeHead(403, { 'content-type': 'text/plain' }).end(`${problem}\n`);
      return;
    }
    if (request.method === 'GET' && url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(this.page);
    } else if (request.method === 'GET' && url.pathname === '/events') {
      this.stream(response);
    } else if (request.method === 'GET' && url.pathname === '/recording') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.options.recording ?? null));
    } else if (request.method === 'POST' && url.pathname === '/command') {
      this.command(request, response);
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  /** Why a request is refused, if it is. */
  private refusal(request: IncomingMessage, url: URL): string | undefined {
    if (!isLoopback(request.socket.remoteAddress)) return 'only this machine may use the loop view';
    if (!sameSecret(url.searchParams.get('token') ?? '', this.token)) return 'a token is needed: use the address the server printed';
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://127.0.0.1:${this.port}`) return `requests from ${origin} are not accepted`;
    return undefined;
  }

  private stream(response: ServerResponse): void {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.pages.add(response);
    response.on('close', () => this.pages.delete(response));
    this.send(response, 'hello', { replay: this.options.recording !== undefined, held: this.options.hold?.isHeld ?? false });
    for (const round of this.rounds) this.send(response, 'round', round);
  }

  private command(request: IncomingMessage, response: ServerResponse): void {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 1024) request.destroy();
    });
    request.on('end', () => {
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
      this.watchQueue();
      this.broadcast('held', { held: hold.isHeld });
      response.writeHead(204).end();
    });
  }

  /** While the loop is held, what piles up in the reactor's queue is sent
   * to the pages a few times a second. */
  private watchQueue(): void {
    clearInterval(this.queueTimer);
    const { hold, queued } = this.options;
    if (!hold?.isHeld || queued === undefined) return;
    const send = () => this.broadcast('queue', { queued: queued() });
    send();
    this.queueTimer = setInterval(() => {
      if (hold.isHeld) send();
      else clearInterval(this.queueTimer);
    }, QUEUE_EVERY_MS);
    this.queueTimer.unref();
  }

  private broadcast(event: string, data: unknown): void {
    for (const page of this.pages) this.send(page, event, data);
  }

  private send(page: ServerResponse, event: string, data: unknown): void {
    if (page.writableLength > SLOW_PAGE_BYTES) return;
    page.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}

/** Where in src/server.ts each kind of step is done, found by the code
 * itself, so that the page's pointers follow the code when it moves. */
function locateSteps(): Record<string, number> {
  const lines = readFileSync(new URL('./server.ts', import.meta.url), 'utf8').split('\n');
  const markers: Record<string, string> = {
    select: 'await this.reactor.select(watched',
    accept: 'this.accept(inputs)',
    handshake: 'private handshake(',
    broadcast: 'this.broadcast(msg, sock)',
    hangUp: 'private hangUp(',
    console: 'sock === this.console',
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
