// The reactor's core: one queue of Node's events, and select() over it.
//
// Node has no select(): libuv runs its own loop and calls a function for each event. Here each
// such function only queues what its event does to its source. select() plays the kernel's part:
// it applies the queued events (a chunk into a connection's inbox, a new connection into the
// listener's waiting list, a line into the console), answers which of the sources it was given
// are ready, and when none is, sleeps until an event wakes it. The program's logic runs in its
// loop, never in a callback.
//
// What a real server adds plugs in through `Layers`, called where an event is queued and applied
// and where select() starts, wakes and answers, as Redis's ae calls the server's beforesleep and
// libuv its prepare and check handles: the core imports no layer (src/room/reactor.ts puts them in).

import type { Server, Socket } from 'node:net';
import type { Interface as ReadlineInterface } from 'node:readline';
import { type Channel, FrameDecoder } from '../wire/wire.js';

/** What one of Node's callbacks queued: its kind ('data', 'end'...), source, bytes, and what it does. */
export interface QueuedEvent {
  readonly kind: string;
  readonly source: Source;
  readonly bytes: number;
  apply(): void;
}

/** What layers plug in, each optional. */
export interface Layers {
  /** An event was queued, in Node's callback. */
  queued?(event: QueuedEvent): void;
  /** An event has reached its source, in select(). */
  applied?(event: QueuedEvent): void;
  /** select() starts, the last round's work done (ae's beforesleep, libuv's prepare). */
  prepare?(inputs: readonly Source[], outputs: readonly Connection[]): void | Promise<void>;
  /** select() has had a turn of Node's loop or a sleep, and not yet looked at what came (libuv's check). */
  check?(): void | Promise<void>;
  /** select() must answer now, even with nothing ready. */
  mustAnswer?(): boolean;
  /** select() has its answer (nothing, when it throws SelectError): the round is the loop's until the next select(). */
  answered?(readable: readonly Source[], writable: readonly Connection[]): void;
  /** select() was interrupted: nothing may keep the loop waiting any more. */
  interrupted?(): void;
  /** The timer that ends a sleep at its deadline, if not a setTimeout per sleep. */
  alarm?: { ringAt(deadline: number, ring: () => void): void; quiet(): void };
  /** A connection's frame decoder, with the limits it should apply (src/wire/wire.ts). */
  makeInbox?(): FrameDecoder;
}

/** Anything select() can watch. */
export type Source = Listener | Connection | Console;

/** Python's `select.error`: what select() throws once `interrupt()` is called. */
export class SelectError extends Error {}

export class Reactor {
  /** The one queue: each of Node's callbacks pushes what its event does, and nothing else happens there. */
  private readonly events: QueuedEvent[] = [];
  /** Set while select() sleeps: the next event calls it. */
  private wakeUp: (() => void) | undefined;
  private interrupted = false;
  private connections = 0;

  constructor(readonly layers: Layers = {}) {}

  /** Python's `select.select(inputs, outputs, [], timeout)`, the timeout in ms: the inputs that are
   * readable and the outputs that are writable, all empty once the timeout passes. Throws SelectError
   * if interrupted. */
  async select<I extends Source, O extends Connection>(inputs: readonly I[], outputs: readonly O[], timeoutMs = Infinity): Promise<[I[], O[], never[]]> {
    const { layers } = this;
    const preparing = layers.prepare?.(inputs, outputs);
    if (preparing instanceof Promise) await preparing;
    const deadline = performance.now() + timeoutMs;
    let nodeHadATurn = false;
    for (;;) {
      for (const event of this.events.splice(0)) {
        event.apply();
        layers.applied?.(event);
      }
      if (this.interrupted) {
        this.interrupted = false;
        layers.answered?.([], []);
        throw new SelectError('select() interrupted');
      }
      const readable = inputs.filter((source) => source.readable);
      // Unlike the kernel, this select() calls a socket writable only once output Node held back has
      // gone: an idle socket is not, or a loop watching idle sockets would never sleep.
      const writable = outputs.filter((connection) => connection.drained || connection.error !== undefined);
      const done = readable.length > 0 || writable.length > 0 || layers.mustAnswer?.() || performance.now() >= deadline;
      if (done && nodeHadATurn) {
        for (const connection of writable) connection.drained = false;
        layers.answered?.(readable, writable);
        return [readable, writable, []];
      }
      // Node gets a turn first, as the kernel's select() looks at every descriptor: a loop never idle
      // would otherwise never let Node read another socket or deliver a signal.
      if (done) await new Promise(setImmediate);
      else await this.sleep(deadline);
      nodeHadATurn = true;
      const checking = layers.check?.();
      if (checking instanceof Promise) await checking;
    }
  }

  /** Makes this select(), or the next, throw SelectError: where a signal interrupts Python 2's select(). */
  interrupt(): void {
    this.interrupted = true;
    this.layers.interrupted?.();
    this.wakeUp?.();
  }

  /** Called from Node's callbacks with what their event does: done at the next select(). */
  push(event: QueuedEvent): void {
    this.events.push(event);
    this.layers.queued?.(event);
    this.wakeUp?.();
  }

  /** The events waiting for the next select(), in the order they came. */
  get queue(): readonly QueuedEvent[] {
    return this.events;
  }

  /** Numbers connections as they come, where Python shows the socket's file descriptor. */
  numberConnection = (): number => ++this.connections;

  private sleep(deadline: number): Promise<void> {
    const { alarm } = this.layers;
    return new Promise((resolve) => {
      const ring = () => this.wakeUp?.();
      const timer = deadline === Infinity || alarm !== undefined ? undefined : setTimeout(ring, deadline - performance.now());
      // The loop goes on after the rest of this turn of Node's loop: events that came together share a round.
      this.wakeUp = () => {
        this.wakeUp = undefined;
        clearTimeout(timer);
        alarm?.quiet();
        setImmediate(resolve);
      };
      if (deadline !== Infinity) alarm?.ringAt(deadline, ring);
    });
  }
}

/** The listening socket. Node has accepted each connection already; `accept()` hands over the next. */
export class Listener {
  /** Connections Node accepted that the loop has not taken yet. */
  readonly waiting: Connection[] = [];

  constructor(
    protected readonly reactor: Reactor,
    readonly server: Server,
  ) {
    // Wrapped in the callback that hands the socket over: a reset a moment later must find a listener.
    server.on('connection', (socket) => {
      const connection = this.wrap(socket);
      reactor.push({ kind: 'connection', source: this, bytes: 0, apply: () => this.waiting.push(connection) });
    });
  }

  /** Makes the Connection for a socket Node accepted. */
  protected wrap(socket: Socket): Connection {
    return new Connection(this.reactor, socket);
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

/** One TCP connection. Python hands the loop a socket to recv() from; Node reads by itself, so the bytes wait in `inbox` (src/wire/wire.ts). */
export class Connection implements Channel {
  readonly inbox: FrameDecoder;
  ended = false;
  error: Error | undefined;
  /** Node had held output back, and has written it all since. */
  drained = false;
  readonly id: number;

  constructor(
    reactor: Reactor,
    readonly socket: Socket,
  ) {
    this.id = reactor.numberConnection();
    this.inbox = reactor.layers.makeInbox?.() ?? new FrameDecoder();
    // Every event is listened to from here on: an 'error' nobody listens to would end the process.
    socket.on('data', (chunk: Buffer) => reactor.push({ kind: 'data', source: this, bytes: chunk.length, apply: () => this.toInbox(chunk) }));
    socket.on('end', () => reactor.push({ kind: 'end', source: this, bytes: 0, apply: () => (this.ended = true) }));
    socket.on('error', (error) => reactor.push({ kind: 'error', source: this, bytes: 0, apply: () => (this.error ??= error) }));
    socket.on('drain', () => reactor.push({ kind: 'drain', source: this, bytes: 0, apply: () => (this.drained = true) }));
  }

  get readable(): boolean {
    return this.inbox.ready || this.ended || this.error !== undefined;
  }

  /** A chunk Node read reaches the inbox, in select(). */
  protected toInbox(chunk: Buffer): void {
    this.inbox.push(chunk);
  }

  /** What the next whole frame holds, if one has come (`receive` takes it: src/wire/wire.ts). */
  nextFrame(): Buffer | undefined {
    return this.inbox.next();
  }

  /** Python's `sock.send(data)`, straight to the socket, but never blocking nor sending half: what the kernel will not take yet, Node keeps. */
  write(data: Buffer): void {
    this.socket.write(data);
  }

  /** Python's `sock.close()`: what was written leaves first, then the end of the stream. */
  close(): void {
    this.socket.end();
  }
}

/** Lines typed on a console. Python selects on `sys.stdin` and calls readline(); Node's readline hands over whole lines, which wait here. */
export class Console {
  readonly lines: string[] = [];
  ended = false;

  constructor(
    reactor: Reactor,
    readonly input: ReadlineInterface,
  ) {
    input.on('line', (line) => reactor.push({ kind: 'line', source: this, bytes: 0, apply: () => this.lines.push(line) }));
    input.on('close', () => reactor.push({ kind: 'console-end', source: this, bytes: 0, apply: () => (this.ended = true) }));
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
