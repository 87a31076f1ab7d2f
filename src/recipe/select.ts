// The reactor's core: one queue of Node's events, and select() over it.
//
// Node has no select(): libuv runs its own loop and calls a function for each
// event. Here each such function only queues what its event does to its
// source. select() plays the kernel's part: it applies the queued events
// (a chunk into a connection's inbox, a new connection into the listener's
// waiting list, a line into the console), answers which of the sources it
// was given are ready, and when none is, sleeps until an event wakes it. The
// program's logic runs in its loop, never in a callback.
//
// What a real server adds plugs in through `Layers`, called where select()
// starts, wakes and answers, as Redis's ae calls the server's beforesleep and
// libuv its prepare and check handles: the core imports no layer.

import type { Server, Socket } from 'node:net';
import type { Interface as ReadlineInterface } from 'node:readline';
import { type Channel, FrameDecoder } from '../wire.js';

/** What a layer plugs in, each optional: hooks where select() starts, wakes and answers, and the inbox
 * each connection gets. */
export interface Layers {
  /** select() starts, the last round's work done (ae's beforesleep, libuv's prepare). */
  prepare?(inputs: readonly Source[], outputs: readonly Connection[]): void | Promise<void>;
  /** select() has woken, and not yet looked at what came (libuv's check). */
  check?(): void | Promise<void>;
  /** select() has its answer: the round is the loop's until the next select(). */
  answered?(readable: readonly Source[], writable: readonly Connection[]): void;
  /** A connection's frame decoder, with the limits it should apply (src/wire.ts). */
  makeInbox?(): FrameDecoder;
}

/** Anything select() can watch. */
export type Source = Listener | Connection | Console;

/** Python's `select.error`: what select() throws once `interrupt()` is called. */
export class SelectError extends Error {}

export class Reactor {
  /** The one queue: each of Node's callbacks pushes what its event does, and nothing else happens there. */
  private readonly events: (() => void)[] = [];
  /** Set while select() sleeps: the next event calls it. */
  private wakeUp: (() => void) | undefined;
  private interrupted = false;

  constructor(readonly layers: Layers = {}) {}

  /** Python's `select.select(inputs, outputs, [], timeout)`, the timeout in ms: the inputs that are
   * readable and the outputs that are writable, all empty once the timeout passes. Throws SelectError
   * if interrupted. */
  async select<I extends Source, O extends Connection>(inputs: readonly I[], outputs: readonly O[], timeoutMs = Infinity): Promise<[I[], O[], never[]]> {
    await this.layers.prepare?.(inputs, outputs);
    const deadline = performance.now() + timeoutMs;
    // Node gets a turn first, as the kernel's select() looks at every descriptor: a loop never idle
    // would otherwise never let Node read another socket or deliver a signal.
    await new Promise(setImmediate);
    for (;;) {
      for (const apply of this.events.splice(0)) apply();
      if (this.interrupted) {
        this.interrupted = false;
        throw new SelectError('select() interrupted');
      }
      const readable = inputs.filter((source) => source.readable);
      // Unlike the kernel, this select() calls a socket writable only once output Node held back has
      // gone: an idle socket is not, or a loop watching idle clients would never sleep.
      const writable = outputs.filter((connection) => connection.drained);
      if (readable.length > 0 || writable.length > 0 || performance.now() >= deadline) {
        for (const connection of writable) connection.drained = false;
        this.layers.answered?.(readable, writable);
        return [readable, writable, []];
      }
      await this.sleep(deadline);
      await this.layers.check?.();
    }
  }

  /** Makes this select(), or the next, throw SelectError: where a signal interrupts Python 2's select(). */
  interrupt(): void {
    this.interrupted = true;
    this.wakeUp?.();
  }

  /** Called from Node's callbacks with what their event does: done at the next select(). */
  push(event: () => void): void {
    this.events.push(event);
    this.wakeUp?.();
  }

  private sleep(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const alarm = deadline === Infinity ? undefined : setTimeout(() => this.wakeUp?.(), deadline - performance.now());
      // The loop goes on after the rest of this turn of Node's loop: events that came together share a round.
      this.wakeUp = () => {
        this.wakeUp = undefined;
        clearTimeout(alarm);
        setImmediate(resolve);
      };
    });
  }
}

/** The listening socket. Node has accepted each connection already; `accept()` hands over the next. */
export class Listener {
  /** Connections Node accepted that the loop has not taken yet. */
  readonly waiting: Connection[] = [];

  readonly server: Server;

  constructor(reactor: Reactor, server: Server) {
    this.server = server;
    // Wrapped in the callback that hands the socket over: a reset a moment later must find a listener.
    server.on('connection', (socket) => {
      const connection = new Connection(reactor, socket);
      reactor.push(() => this.waiting.push(connection));
    });
  }

  get readable(): boolean {
    return this.waiting.length > 0;
  }

  /** Call it only when readable. */
  accept(): Connection {
    return this.waiting.shift()!;
  }

  close(): void {
    this.server.close();
  }
}

let nextId = 1;

/** One TCP connection. Python hands the loop a socket and lets it call recv(); Node reads by
 * itself, so the bytes wait in `inbox`, whole frames or not (src/wire.ts). */
export class Connection implements Channel {
  readonly inbox: FrameDecoder;
  ended = false;
  error: Error | undefined;
  /** Node had held output back, and has written it all since. */
  drained = false;

  /** Numbers connections as they come, where Python shows the socket's file descriptor. */
  readonly id = nextId++;
  readonly socket: Socket;

  constructor(reactor: Reactor, socket: Socket) {
    this.socket = socket;
    this.inbox = reactor.layers.makeInbox?.() ?? new FrameDecoder();
    // Every event is listened to from here on: an 'error' nobody listens to would end the process.
    socket.on('data', (chunk: Buffer) => reactor.push(() => this.inbox.push(chunk)));
    socket.on('end', () => reactor.push(() => (this.ended = true)));
    socket.on('error', (error) => reactor.push(() => (this.error ??= error)));
    socket.on('drain', () => reactor.push(() => (this.drained = true)));
  }

  get readable(): boolean {
    return this.inbox.ready || this.ended || this.error !== undefined;
  }

  /** Python's `sock.send(data)`, straight to the socket, except that it never blocks nor sends
   * half: what the kernel will not take yet, Node keeps, however much that is. */
  write(data: Buffer): void {
    this.socket.write(data);
  }

  /** Python's `sock.close()`: what was written leaves first, then the end of the stream. */
  close(): void {
    this.socket.end();
  }
}

/** Lines typed on a console. Python selects on `sys.stdin` and calls readline(); Node's readline
 * hands over whole lines, which wait here. */
export class Console {
  readonly lines: string[] = [];
  ended = false;

  readonly input: ReadlineInterface;

  constructor(reactor: Reactor, input: ReadlineInterface) {
    this.input = input;
    input.on('line', (line) => reactor.push(() => this.lines.push(line)));
    input.on('close', () => reactor.push(() => (this.ended = true)));
  }

  get readable(): boolean {
    return this.lines.length > 0 || this.ended;
  }

  /** Python's `sys.stdin.readline()`, without the newline; null at the end of input. */
  readLine(): string | null {
    return this.lines.shift() ?? null;
  }

  close(): void {
    this.input.close();
  }
}
