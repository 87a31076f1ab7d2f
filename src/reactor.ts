// A hand-written reactor: Node's socket events, gathered so that a plain
// `while (running) { await select(inputs, outputs) }` loop can consume them,
// as the original consumes `select.select(inputs, outputs, [])`.
//
// Node has no select(). It runs its own loop (libuv, over epoll) and calls a
// function for each event. Here those functions do one thing only: push the
// event into one queue. `select()` then plays the kernel's part: it applies
// the queued events to each source (bytes into the socket's inbox, a new
// connection into the listener's backlog...), answers which of the sources it
// was asked about are ready, and when none is, it sleeps until an event
// arrives. The program's own logic runs in its loop, never in a callback.
//
// The reactor knows nothing of chat. What counts as "something to read" on a
// socket is its inbox's business: the chat uses a frame decoder, so a socket
// holding half a frame is not readable, just as a blocking recv() would still
// be waiting.

import type { Server, Socket } from 'node:net';
import type { Interface as ReadlineInterface } from 'node:readline';

/** Where a connection's bytes go until the loop takes them. */
export interface Inbox {
  /** Takes bytes as they arrive; must not throw. */
  push(chunk: Buffer): void;
  /** Something whole (or an error) is there to take. */
  readonly ready: boolean;
  /** Bytes held, for flow control. */
  readonly bufferedBytes: number;
}

export interface ReactorOptions<TInbox extends Inbox> {
  /** Makes the inbox of each accepted or connected socket. */
  makeInbox: () => TInbox;
  /** An inbox holding this much that is ready to take stops reading from its
   * socket until the loop catches up; TCP then slows the sender down. */
  inboxHighWater?: number;
}

type ReactorEvent =
  | { kind: 'connection'; listener: Listener<Inbox>; socket: Socket }
  | { kind: 'data'; connection: Connection<Inbox>; chunk: Buffer }
  | { kind: 'end'; connection: Connection<Inbox> }
  | { kind: 'error'; connection: Connection<Inbox>; error: Error }
  | { kind: 'drain'; connection: Connection<Inbox> }
  | { kind: 'line'; console: Console; line: string }
  | { kind: 'console-end'; console: Console };

/** Anything select() can watch. */
export type Source = Listener<Inbox> | Connection<Inbox> | Console;

export type SelectResult<TInput, TOutput> = [readable: TInput[], writable: TOutput[], exceptional: never[]];

/** At most this many extra turns of Node's loop gather new connections. */
const MAX_GATHER_TURNS = 128;

/** One turn of Node's loop: the callbacks of pending I/O run first. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class Reactor<TInbox extends Inbox = Inbox> {
  private readonly events: ReactorEvent[] = [];
  private readonly pendingWrites = new Set<Connection<TInbox>>();
  private readonly paused = new Set<Connection<TInbox>>();
  private wakeUp: (() => void) | undefined;
  private interrupted = false;
  private nextConnectionId = 1;
  private connectionsQueued = 0;
  private connectionsGathered = 0;
  readonly makeInbox: () => TInbox;
  readonly inboxHighWater: number;

  constructor(options: ReactorOptions<TInbox>) {
    this.makeInbox = options.makeInbox;
    this.inboxHighWater = options.inboxHighWater ?? 256 * 1024;
  }

  /** Watches a listening server: it becomes readable when a connection
   * waits to be accepted. */
  listen(server: Server): Listener<TInbox> {
    return new Listener(this, server);
  }

  /** Watches an already connected socket (the client's side). */
  connection(socket: Socket): Connection<TInbox> {
    return new Connection(this, socket, this.nextConnectionId++);
  }

  /** Watches lines typed on a console: readable when a line waits, and for
   * good once input has ended (as stdin is at end of file). */
  console(lines: ReadlineInterface): Console {
    return new Console(this, lines);
  }

  /** Python's `select.select(inputs, outputs, [], timeout)`.
   *
   * Resolves to the inputs that are readable and the outputs that are
   * writable. Readable: a listener with a connection to accept; a
   * connection whose inbox holds something whole, whose peer has hung up, or
   * which failed; a console with a line or at end of input. Writable: a
   * connection that had output waiting in Node and has since drained it,
   * or that failed. A select() with nothing ready sleeps until an event
   * comes, `timeoutMs` passes (then all lists are empty), or `interrupt()`
   * is called. */
  async select<TInput extends Source, TOutput extends Connection<TInbox>>(
    inputs: readonly TInput[],
    outputs: readonly TOutput[],
    timeoutMs?: number,
  ): Promise<SelectResult<TInput, TOutput>> {
    // The end of the last round: what the loop wrote goes out now, one write
    // per socket however many messages it holds.
    this.flushWrites();
    // Sockets whose inbox the loop has caught up on are read again.
    this.resumeCaughtUp();
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    let yielded = false;
    for (;;) {
      this.applyEvents();
      const readable = inputs.filter((source) => source.readable);
      // Like select(), a socket that failed counts as writable: the next
      // write would tell, so the loop should look at it.
      const writable = outputs.filter((connection) => connection.drained || connection.error !== undefined);
      const done = readable.length > 0 || writable.length > 0 || this.interrupted || Date.now() >= deadline;
      if (done && yielded) {
        this.interrupted = false;
        for (const connection of writable) connection.drained = false;
        return [readable, writable, []];
      }
      if (done) {
        // Something is ready already. Still let Node run the callbacks of
        // whatever I/O is pending first, as select() looks at every
        // descriptor even when one is ready: without this a busy loop would
        // never let Node read the other sockets or deliver a signal.
        await nextTurn();
      } else {
        await this.sleep(deadline);
      }
      await this.gatherConnections();
      yielded = true;
    }
  }

  /** Ends the current or next select() at once with nothing ready, as a
   * signal interrupts select() in Python. */
  interrupt(): void {
    this.interrupted = true;
    this.wakeUp?.();
  }

  /** Called by sources from Node's callbacks; nothing else happens there. */
  push(event: ReactorEvent): void {
    this.events.push(event);
    if (event.kind === 'connection') this.connectionsQueued += 1;
    this.wakeUp?.();
  }

  queueWrite(connection: Connection<TInbox>): void {
    this.pendingWrites.add(connection);
  }

  forget(connection: Connection<TInbox>): void {
    this.pendingWrites.delete(connection);
    this.paused.delete(connection);
  }

  /** Node hands the program about one new connection per turn of its loop;
   * a select() loop would accept() the whole backlog in one round. So while
   * connections keep coming, a few more turns are taken to gather them, and
   * the round that follows handles them (and their handshakes) together.
   * (A turn started from a callback may end before Node polls again, so
   * gathering stops only after two turns in a row bring nothing.) */
  private async gatherConnections(): Promise<void> {
    if (this.connectionsQueued === this.connectionsGathered) return;
    let quietTurns = 0;
    for (let turns = 0; turns < MAX_GATHER_TURNS && quietTurns < 2; turns++) {
      const seen = this.connectionsQueued;
      await nextTurn();
      quietTurns = this.connectionsQueued === seen ? quietTurns + 1 : 0;
    }
    this.connectionsGathered = this.connectionsQueued;
  }

  private sleep(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      // The first event ends the sleep, but the loop runs after the rest of
      // this turn of Node's loop, so that events that arrived together are
      // handled in one round.
      let timer: NodeJS.Timeout | undefined;
      this.wakeUp = () => {
        this.wakeUp = undefined;
        clearTimeout(timer);
        setImmediate(resolve);
      };
      if (deadline !== Infinity) timer = setTimeout(() => this.wakeUp?.(), Math.max(0, deadline - Date.now()));
    });
  }

  private applyEvents(): void {
    for (const event of this.events.splice(0)) {
      switch (event.kind) {
        case 'connection': event.listener.backlog.push(this.connection(event.socket)); break;
        case 'data': this.receiveData(event.connection as Connection<TInbox>, event.chunk); break;
        case 'end': event.connection.ended = true; break;
        case 'error': event.connection.error ??= event.error; break;
        case 'drain': event.connection.drained = true; break;
        case 'line': event.console.lines.push(event.line); break;
        case 'console-end': event.console.ended = true; break;
      }
    }
  }

  private receiveData(connection: Connection<TInbox>, chunk: Buffer): void {
    if (connection.closed) return;
    connection.inbox.push(chunk);
    if (connection.inbox.ready && connection.inbox.bufferedBytes >= this.inboxHighWater) {
      // The kernel keeps unread bytes in the socket's buffer and stops the
      // sender when it fills. Node reads eagerly instead, so it is told to
      // stop reading while the loop has plenty to take from this socket.
      connection.socket.pause();
      this.paused.add(connection);
    }
  }

  private resumeCaughtUp(): void {
    for (const connection of this.paused) {
      if (connection.inbox.bufferedBytes < this.inboxHighWater / 2) {
        connection.socket.resume();
        this.paused.delete(connection);
      }
    }
  }

  private flushWrites(): void {
    for (const connection of this.pendingWrites) connection.flush();
    this.pendingWrites.clear();
  }
}

/** The listening socket. Python's `server.accept()` becomes `accept()`:
 * Node has already accepted the connection, so this only hands it over. */
export class Listener<TInbox extends Inbox> {
  readonly backlog: Connection<TInbox>[] = [];

  constructor(
    private readonly reactor: Reactor<TInbox>,
    readonly server: Server,
  ) {
    server.on('connection', (socket) => reactor.push({ kind: 'connection', listener: this, socket }));
  }

  get readable(): boolean {
    return this.backlog.length > 0;
  }

  accept(): Connection<TInbox> | undefined {
    return this.backlog.shift();
  }

  close(): void {
    this.server.close();
    for (const connection of this.backlog.splice(0)) connection.close();
  }
}

/** One TCP connection. Python would hand the loop a socket and let it call
 * recv(); Node reads by itself, so the bytes wait in `inbox` instead. */
export class Connection<TInbox extends Inbox> {
  readonly inbox: TInbox;
  /** The peer closed its side. */
  ended = false;
  /** The connection failed. */
  error: Error | undefined;
  /** Node had to hold output back, and has now written all of it. */
  drained = false;
  closed = false;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private outbox: Buffer[] = [];
  private outboxBytes = 0;

  constructor(
    private readonly reactor: Reactor<TInbox>,
    readonly socket: Socket,
    /** Numbers connections in the order they came, where Python would
     * print the socket's file descriptor: Node does not expose one. */
    readonly id: number,
  ) {
    this.inbox = reactor.makeInbox();
    // An IPv4 peer of a dual-stack listener shows as ::ffff:1.2.3.4.
    this.remoteAddress = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    this.remotePort = socket.remotePort ?? 0;
    // Writes are gathered per loop round already; Nagle's algorithm would
    // only hold the gathered batch back waiting for an acknowledgement.
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => reactor.push({ kind: 'data', connection: this, chunk }));
    socket.on('end', () => reactor.push({ kind: 'end', connection: this }));
    socket.on('error', (error) => reactor.push({ kind: 'error', connection: this, error }));
    socket.on('drain', () => reactor.push({ kind: 'drain', connection: this }));
  }

  get readable(): boolean {
    return this.inbox.ready || this.ended || this.error !== undefined;
  }

  /** Bytes written but not yet taken by the kernel: this round's outbox and
   * what Node still holds from earlier rounds. */
  get pendingOutputBytes(): number {
    return this.outboxBytes + this.socket.writableLength;
  }

  /** Python's `sock.send(data)`, except that it never blocks: the data
   * waits in the outbox until the end of the loop round. */
  write(data: Buffer): void {
    if (this.closed) return;
    this.outbox.push(data);
    this.outboxBytes += data.length;
    this.reactor.queueWrite(this);
  }

  /** Called by the reactor at the end of a round: everything written in the
   * round leaves in one system call. */
  flush(): void {
    const outbox = this.outbox;
    this.outbox = [];
    this.outboxBytes = 0;
    if (outbox.length === 0 || !this.socket.writable) return;
    // cork() holds the writes back and uncork() hands them to the kernel in
    // one writev(): no copy, and a frame broadcast to many clients stays one
    // buffer in memory, shared by all their pending writes.
    if (outbox.length > 1) this.socket.cork();
    let accepted = true;
    for (const data of outbox) accepted = this.socket.write(data);
    if (outbox.length > 1) this.socket.uncork();
    // write() returning true means the kernel took everything: the output
    // has drained already. False means Node holds what the kernel would not
    // take, and 'drain' will say when it has gone.
    this.drained = accepted && this.socket.writableLength === 0;
  }

  /** Python's `sock.close()`: sends what is pending, then closes. Output
   * the peer has not taken after `lingerMs` is dropped with the socket. */
  close(lingerMs = 2000): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.reactor.forget(this);
    this.socket.end();
    // Whatever the peer still sends is of no interest now.
    this.socket.pause();
    // A closed connection must not keep the process alive, nor stay open
    // for a peer that never reads.
    this.socket.unref();
    setTimeout(() => this.socket.destroy(), lingerMs).unref();
  }

  /** Drops the connection at once, pending output and all. */
  destroy(): void {
    this.closed = true;
    this.reactor.forget(this);
    this.socket.destroy();
  }
}

/** Lines typed on a console. Python puts `sys.stdin` in the select() set and
 * calls readline() when it is readable; Node's readline gives whole lines
 * as events, which wait here. */
export class Console {
  readonly lines: string[] = [];
  ended = false;

  constructor(
    reactor: Reactor<Inbox>,
    readonly input: ReadlineInterface,
  ) {
    input.on('line', (line) => reactor.push({ kind: 'line', console: this, line }));
    input.on('close', () => reactor.push({ kind: 'console-end', console: this }));
  }

  get readable(): boolean {
    return this.lines.length > 0 || this.ended;
  }

  /** The next line, or null at end of input. */
  readLine(): string | null {
    return this.lines.shift() ?? null;
  }

  close(): void {
    this.input.close();
  }
}
