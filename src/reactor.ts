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
// The reactor also plays the kernel's part in flow control. A kernel reads
// into a socket's buffer only so far, and a listening socket's backlog holds
// connections nobody has accepted; here Node reads only from the connections
// select() is asked to watch, only while their inboxes and the input budget
// have room, and never from a connection the loop has not accepted yet.
//
// The reactor knows nothing of chat. What counts as "something to read" on a
// socket is its inbox's business: the chat uses a frame decoder, so a socket
// holding half a frame is not readable, just as a blocking recv() would still
// be waiting.

import type { Server, Socket } from 'node:net';
import type { Interface as ReadlineInterface } from 'node:readline';
import { emptyOutbox, joinSteps, nextStep, type OutboxStep } from './outbox.js';
import { startReadingNow, stopReadingNow } from './streams.js';

/** Where a connection's bytes go until the loop takes them. */
export interface Inbox {
  /** Takes bytes as they arrive; must not throw. */
  push(chunk: Buffer): void;
  /** Something whole (or an error) is there to take. */
  readonly ready: boolean;
  /** Bytes held, for flow control. */
  readonly bufferedBytes: number;
  /** Part of something has arrived and the rest has not. */
  readonly incomplete: boolean;
  /** How many things (frames) have begun to arrive, the unfinished one included. */
  readonly framesStarted: number;
}

export interface ReactorOptions<TInbox extends Inbox> {
  /** Makes the inbox of each accepted or connected socket. */
  makeInbox: () => TInbox;
  /** An inbox holding this much that is ready to take stops reading from its
   * socket until the loop catches up; TCP then slows the sender down. */
  inboxHighWater?: number;
  /** Bytes of input held at once, in every inbox and in events not yet
   * applied, each chunk charged CHUNK_OVERHEAD more than its length. When
   * it is reached, Node stops reading from every connection until the loop
   * has taken some (see Reactor.inputBytes). */
  inputBudget?: number;
  /** Something that may hold the loop in select() (the loop view's Pause
   * and Step, src/hold.ts). */
  hold?: Hold;
}

/** What holds the loop, asked where select() waits: as it starts (once the
 * last round's output has gone), and each time it wakes, before it looks at
 * what arrived, so that a loop paused while asleep serves nothing. */
export interface Hold {
  enter(): Promise<void>;
  pass(): Promise<void>;
  leaveSelect(): void;
  /** Milliseconds the current select() has spent held. */
  readonly heldMs: number;
}

/** How many connections a listener may hold (accepted or waiting to be),
 * and that their bytes are not read until the loop accepts them. */
export interface ListenerOptions {
  maxConnections?: number;
}

type ReactorEvent =
  | { kind: 'connection'; listener: Listener<Inbox>; connection: Connection<Inbox> }
  | { kind: 'refused'; listener: Listener<Inbox>; remoteAddress: string }
  | { kind: 'data'; connection: Connection<Inbox>; chunk: Buffer }
  | { kind: 'end'; connection: Connection<Inbox> }
  | { kind: 'error'; connection: Connection<Inbox>; error: Error }
  | { kind: 'drain'; connection: Connection<Inbox> }
  | { kind: 'line'; console: Console; line: string }
  | { kind: 'console-end'; console: Console };

/** Events of one kind from one source, waiting in the queue. */
export interface QueuedEvents {
  kind: ReactorEvent['kind'];
  source: Source;
  count: number;
  bytes: number;
}

/** Anything select() can watch. */
export type Source = Listener<Inbox> | Connection<Inbox> | Console;

export type SelectResult<TInput, TOutput> = [readable: TInput[], writable: TOutput[], exceptional: never[]];

/** A console with this many lines waiting for the loop stops reading. */
const CONSOLE_HIGH_WATER = 1024;

/** What holding one chunk of input costs beyond its bytes: the Buffer
 * object, its backing store's bookkeeping, and the queued event (about
 * 600 bytes on Node 20, measured with one-byte reads). A peer that sends
 * one byte at a time makes one chunk of each byte, so the input budget
 * charges every chunk this much more than its length; otherwise a budget
 * of 64 MiB would let one-byte chunks hold gigabytes. */
export const CHUNK_OVERHEAD = 1024;

/** What a chunk of input is charged against the budget while it is held. */
const chunkCost = (chunk: Buffer) => chunk.length + CHUNK_OVERHEAD;

/** At most this many extra turns of Node's loop gather new connections. */
const MAX_GATHER_TURNS = 128;

/** Bytes read and thrown away from a closed connection before it is
 * dropped outright: its peer is sending, not listening for the end. */
const DISCARDED_AFTER_CLOSE = 256 * 1024;

/** One turn of Node's loop: the callbacks of pending I/O run first. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class Reactor<TInbox extends Inbox = Inbox> {
  private readonly events: ReactorEvent[] = [];
  private readonly pendingWrites = new Set<Connection<TInbox>>();
  /** Connections Node is reading from. */
  private readonly reading = new Set<Connection<TInbox>>();
  private readonly consoles: Console[] = [];
  /** Connections select() reported readable: the loop has taken from their
   * inboxes since, and what they hold is counted again next time. */
  private taken: Connection<TInbox>[] = [];
  /** Bytes in inboxes and in queued data events. */
  private heldInputBytes = 0;
  /** Every read was stopped because the input budget was spent. */
  private overBudget = false;
  private round = 0;
  private wakeUp: (() => void) | undefined;
  private alarm: NodeJS.Timeout | undefined;
  private alarmAt = Infinity;
  /** Where every connection's outbox starts in this round (src/outbox.ts). */
  outboxStart = emptyOutbox();
  private interrupted = false;
  private nextConnectionId = 1;
  private connectionsQueued = 0;
  private connectionsGathered = 0;
  readonly makeInbox: () => TInbox;
  readonly inboxHighWater: number;
  readonly inputBudget: number;
  private readonly hold: Hold | undefined;

  constructor(options: ReactorOptions<TInbox>) {
    this.makeInbox = options.makeInbox;
    this.hold = options.hold;
    this.inboxHighWater = options.inboxHighWater ?? 256 * 1024;
    this.inputBudget = options.inputBudget ?? Infinity;
  }

  /** Watches a listening server: it becomes readable when a connection
   * waits to be accepted. */
  listen(server: Server, options: ListenerOptions = {}): Listener<TInbox> {
    return new Listener(this, server, options);
  }

  /** Watches an already connected socket (the client's side). */
  connection(socket: Socket): Connection<TInbox> {
    return new Connection(this, socket, this.nextConnectionId++);
  }

  /** Watches lines typed on a console: readable when a line waits, and for
   * good once input has ended (as stdin is at end of file). */
  console(lines: ReadlineInterface): Console {
    const console = new Console(this, lines);
    this.consoles.push(console);
    return console;
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
   * is called. It also returns, lists empty, when the input budget is spent
   * and every read has stopped: only the loop can free input, by taking it
   * or by cutting someone off (see `inputBytes`). */
  async select<TInput extends Source, TOutput extends Connection<TInbox>>(
    inputs: readonly TInput[],
    outputs: readonly TOutput[],
    timeoutMs?: number,
  ): Promise<SelectResult<TInput, TOutput>> {
    // The end of the last round: what the loop wrote goes out now, one write
    // per socket however many messages it holds.
    this.flushWrites();
    this.countTaken();
    // Held, the loop waits here; Node's callbacks go on filling the queue.
    if (this.hold) await this.hold.enter();
    // Node reads from the connections watched now, and from no other.
    this.watch(inputs);
    // On the monotonic clock, as Node's timers are: a step of the wall clock
    // must not end the wait early or make it an hour long.
    const deadline = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    let yielded = false;
    for (;;) {
      this.applyEvents();
      // Bytes of connections the loop has dropped were still counted until
      // their events were applied: reading may be able to start again.
      if (this.overBudget) this.watch(inputs);
      const readable = inputs.filter((source) => source.readable);
      // Like select(), a socket that failed counts as writable: the next
      // write would tell, so the loop should look at it.
      const writable = outputs.filter((connection) => connection.drained || connection.error !== undefined);
      const done = readable.length > 0 || writable.length > 0 || this.interrupted || this.overBudget || performance.now() >= deadline;
      if (done && yielded) {
        this.interrupted = false;
        for (const connection of writable) connection.drained = false;
        for (const source of readable) if (source instanceof Connection) this.taken.push(source as Connection<TInbox>);
        this.hold?.leaveSelect();
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
      if (this.connectionsQueued !== this.connectionsGathered) await this.gatherConnections();
      // Paused while select() slept: what woke it waits in the queue, and
      // the round it would start is held, unless a Step let this one run.
      if (this.hold) await this.hold.pass();
      yielded = true;
    }
  }

  /** Milliseconds the last select() was held by the loop view (counted
   * apart from the time it slept). */
  get heldMs(): number {
    return this.hold?.heldMs ?? 0;
  }

  /** Ends the current or next select() at once with nothing ready, as a
   * signal interrupts select() in Python. */
  interrupt(): void {
    this.interrupted = true;
    this.wakeUp?.();
  }

  /** Bytes of input held: in every inbox, and arrived but not yet applied.
   * The loop may look at this after taking what it wanted, to decide whom
   * to cut off when it is over the budget. */
  get inputBytes(): number {
    this.countTaken();
    return this.heldInputBytes;
  }

  /** What waits in the queue for the next select(), by kind and source:
   * the loop view shows it piling up while the loop is held. */
  queued(): QueuedEvents[] {
    const bySource = new Map<Source, Map<ReactorEvent['kind'], QueuedEvents>>();
    for (const event of this.events) {
      const source = 'connection' in event ? event.connection : 'console' in event ? event.console : event.listener;
      const byKind = bySource.get(source) ?? new Map<ReactorEvent['kind'], QueuedEvents>();
      bySource.set(source, byKind);
      const entry = byKind.get(event.kind) ?? { kind: event.kind, source, count: 0, bytes: 0 };
      byKind.set(event.kind, entry);
      entry.count += 1;
      if (event.kind === 'data') entry.bytes += event.chunk.length;
    }
    return [...bySource.values()].flatMap((byKind) => [...byKind.values()]);
  }

  /** Called by sources from Node's callbacks; nothing else happens there. */
  push(event: ReactorEvent): void {
    this.events.push(event);
    if (event.kind === 'connection') this.connectionsQueued += 1;
    this.wakeUp?.();
  }

  /** Called from a socket's 'data' callback. Like a kernel whose buffers are
   * full, the reactor stops every read at once when the budget is spent;
   * select() starts them again once the loop has taken enough. */
  pushData(connection: Connection<TInbox>, chunk: Buffer): void {
    if (connection.closed) return;
    this.push({ kind: 'data', connection, chunk });
    connection.queuedBytes += chunkCost(chunk);
    this.heldInputBytes += chunkCost(chunk);
    if (this.heldInputBytes >= this.inputBudget && !this.overBudget) {
      this.overBudget = true;
      for (const reading of this.reading) this.stopReading(reading);
    }
  }

  queueWrite(connection: Connection<TInbox>): void {
    this.pendingWrites.add(connection);
  }

  forget(connection: Connection<TInbox>): void {
    this.pendingWrites.delete(connection);
    this.stopReading(connection);
    this.heldInputBytes -= connection.heldBytes;
    connection.countedBytes = 0;
    connection.queuedBytes = 0;
  }

  /** Node hands the program about one new connection per turn of its loop;
   * a select() loop would accept() the whole backlog in one round. So while
   * connections keep coming, a few more turns are taken to gather them, and
   * the round that follows handles them (and their handshakes) together.
   * (A turn started from a callback may end before Node polls again, so
   * gathering stops only after two turns in a row bring nothing.) */
  private async gatherConnections(): Promise<void> {
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
      this.wakeUp = () => {
        this.wakeUp = undefined;
        this.alarm?.unref();
        setImmediate(resolve);
      };
      if (deadline !== Infinity) this.setAlarm(deadline);
    });
  }

  /** The timer that ends a sleep at its deadline. A server loop sleeps
   * towards the same deadline round after round (its next look at the
   * clients' deadlines, seconds away), so the timer is kept for the next
   * sleep rather than made and cleared every round. It keeps the process
   * alive only while select() sleeps on it. One that goes off early, for an
   * earlier deadline, only makes select() look again and sleep on. */
  private setAlarm(deadline: number): void {
    // A timer is not more precise than a millisecond anyway.
    if (this.alarm !== undefined && this.alarmAt <= deadline + 1) {
      this.alarm.ref();
      return;
    }
    clearTimeout(this.alarm);
    this.alarmAt = deadline;
    const ring = () => {
      this.alarm = undefined;
      this.wakeUp?.();
    };
    this.alarm = setTimeout(ring, Math.max(0, deadline - performance.now()));
  }

  private applyEvents(): void {
    for (const event of this.events.splice(0)) {
      // biome-ignore format: one event a line
      switch (event.kind) {
        case 'connection': event.listener.backlog.push(event.connection as Connection<TInbox>); break;
        case 'refused': event.listener.refused += 1; event.listener.lastRefused = event.remoteAddress; break;
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
    // A closed connection's bytes were no longer counted once forgotten.
    if (connection.closed) return;
    connection.queuedBytes -= chunkCost(chunk);
    this.heldInputBytes -= chunkCost(chunk);
    const { inbox } = connection;
    const startedBefore = inbox.framesStarted;
    inbox.push(chunk);
    // An unfinished frame may keep a piece of every chunk it came in.
    if (!inbox.incomplete) connection.unfinishedChunks = 0;
    else connection.unfinishedChunks = inbox.framesStarted !== startedBefore ? 1 : connection.unfinishedChunks + 1;
    this.count(connection);
    if (!inbox.incomplete) connection.unfinishedSince = undefined;
    else if (inbox.framesStarted !== startedBefore) connection.unfinishedSince = performance.now();
    // The kernel keeps unread bytes in the socket's buffer and stops the
    // sender when it fills. Node reads eagerly instead, so it is told to
    // stop reading while the loop has plenty to take from this socket.
    if (inbox.ready && inbox.bufferedBytes >= this.inboxHighWater) this.stopReading(connection);
  }

  /** Brings the count of a connection's held bytes up to date. */
  private count(connection: Connection<TInbox>): void {
    const held = connection.closed ? 0 : connection.inbox.bufferedBytes + connection.unfinishedChunks * CHUNK_OVERHEAD;
    this.heldInputBytes += held - connection.countedBytes;
    connection.countedBytes = held;
  }

  private countTaken(): void {
    for (const connection of this.taken) this.count(connection);
    this.taken = [];
  }

  /** Node reads from exactly the watched connections that have room: an
   * inbox below half the high-water mark (or holding only part of a frame,
   * which only more bytes can finish), and input held below the budget.
   * A console is read while watched and not too many lines ahead. */
  private watch(inputs: readonly Source[]): void {
    const round = ++this.round;
    const underBudget = this.heldInputBytes < this.inputBudget;
    this.overBudget = !underBudget;
    for (const source of inputs) {
      if (source instanceof Console) source.watchedInRound = round;
      if (!(source instanceof Connection)) continue;
      const connection = source as Connection<TInbox>;
      connection.watchedInRound = round;
      const { inbox } = connection;
      const hasRoom = !inbox.ready || inbox.bufferedBytes < this.inboxHighWater / 2;
      if (!connection.reading && underBudget && hasRoom && !connection.closed) this.startReading(connection);
    }
    for (const connection of this.reading) {
      if (connection.watchedInRound !== round) this.stopReading(connection);
    }
    for (const console of this.consoles) console.watched(console.watchedInRound === round);
  }

  private startReading(connection: Connection<TInbox>): void {
    connection.reading = true;
    connection.readingSince = performance.now();
    this.reading.add(connection);
    startReadingNow(connection.socket);
  }

  private stopReading(connection: Connection<TInbox>): void {
    if (!connection.reading) return;
    connection.reading = false;
    this.reading.delete(connection);
    stopReadingNow(connection.socket);
  }

  private flushWrites(): void {
    for (const connection of this.pendingWrites) connection.flush();
    this.pendingWrites.clear();
    // The next round's outboxes start from a new list, and this one is let go.
    this.outboxStart = emptyOutbox();
  }
}

/** The listening socket. Python's `server.accept()` becomes `accept()`:
 * Node has already accepted the connection, so this only hands it over. */
export class Listener<TInbox extends Inbox> {
  readonly backlog: Connection<TInbox>[] = [];
  /** Every connection Node has handed over that the loop has not accepted,
   * in the backlog or still in the reactor's queue. */
  private readonly unaccepted = new Set<Connection<TInbox>>();
  /** Connections closed at once since the loop last looked, because the
   * listener held as many as it may; and where the last one came from. */
  refused = 0;
  lastRefused = '';

  constructor(
    reactor: Reactor<TInbox>,
    readonly server: Server,
    options: ListenerOptions,
  ) {
    // Node counts every socket it has handed over until that socket closes,
    // and closes a newcomer at once when there are as many as this.
    if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
    server.on('drop', (data) => reactor.push({ kind: 'refused', listener: this, remoteAddress: cleanAddress(data?.remoteAddress) }));
    // The connection is wrapped (every listener attached, reading stopped)
    // in the very callback that hands it over: a reset that comes a moment
    // later must already find someone listening.
    server.on('connection', (socket) => {
      const connection = reactor.connection(socket);
      this.unaccepted.add(connection);
      reactor.push({ kind: 'connection', listener: this, connection });
    });
  }

  get readable(): boolean {
    return this.backlog.length > 0 || this.refused > 0;
  }

  accept(): Connection<TInbox> | undefined {
    const connection = this.backlog.shift();
    if (connection !== undefined) this.unaccepted.delete(connection);
    return connection;
  }

  /** How many were refused since the last call, and where the last came from. */
  takeRefused(): { count: number; lastFrom: string } {
    const refused = { count: this.refused, lastFrom: this.lastRefused };
    this.refused = 0;
    return refused;
  }

  close(): void {
    this.server.close();
    for (const connection of this.unaccepted) connection.destroy();
    this.unaccepted.clear();
    this.backlog.length = 0;
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
  /** Node is reading from the socket, and since when (`performance.now()`, ms). */
  reading = false;
  readingSince = 0;
  /** When the first byte of the unfinished frame in the inbox came (`performance.now()`, ms). */
  unfinishedSince: number | undefined;
  /** For the reactor: its inbox's cost as last counted, the cost of its
   * events not yet applied (bytes and CHUNK_OVERHEAD per chunk), the chunks
   * its unfinished frame came in, and the last round select() watched it. */
  countedBytes = 0;
  queuedBytes = 0;
  unfinishedChunks = 0;
  watchedInRound = 0;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** What the loop has written this round, as the last step of a list
   * shared with every connection written the same; undefined for nothing. */
  private outbox: OutboxStep | undefined;
  /** Bytes of output Node held (had not handed to the kernel), as last
   * known while the socket was sound: see `heldByNode`. */
  private heldByNodeBytes = 0;

  constructor(
    private readonly reactor: Reactor<TInbox>,
    readonly socket: Socket,
    /** Numbers connections in the order they came, where Python would
     * print the socket's file descriptor: Node does not expose one. */
    readonly id: number,
  ) {
    this.inbox = reactor.makeInbox();
    this.remoteAddress = cleanAddress(socket.remoteAddress);
    this.remotePort = socket.remotePort ?? 0;
    // Every event the socket can emit is listened to from here on: an
    // 'error' with no listener would end the process.
    socket.on('data', (chunk: Buffer) => reactor.pushData(this, chunk));
    socket.on('end', () => reactor.push({ kind: 'end', connection: this }));
    socket.on('error', (error) => reactor.push({ kind: 'error', connection: this, error }));
    socket.on('drain', () => reactor.push({ kind: 'drain', connection: this }));
    // Not read until select() watches it, as the kernel does not hand a
    // program bytes it has not asked for.
    stopReadingNow(socket);
    // Writes are gathered per loop round already; Nagle's algorithm would
    // only hold the gathered batch back waiting for an acknowledgement.
    // (A socket already reset has no handle left to set it on.)
    if (!socket.destroyed) socket.setNoDelay(true);
  }

  get readable(): boolean {
    return this.inbox.ready || this.ended || this.error !== undefined;
  }

  /** Input the reactor holds for this connection, as charged against the
   * budget: in its inbox (as last counted) and arrived but not yet applied. */
  get heldBytes(): number {
    return this.countedBytes + this.queuedBytes;
  }

  /** Bytes written but not yet taken by the kernel: this round's outbox and
   * what Node still holds from earlier rounds. */
  get pendingOutputBytes(): number {
    return (this.outbox?.bytes ?? 0) + this.heldByNodeBytes;
  }

  /** Looks again at what Node holds (`writableLength`), unless the socket
   * has failed. It changes only when flush() writes and when a write has
   * gone to the kernel, which is when this is called; so the count is never
   * asked of the socket elsewhere (a broadcast asks it of every client it
   * writes to: in a room of 10,000, asking each socket costs more than the
   * write itself). A socket that fails is destroyed, and Node forgets what
   * it held then: the count from just before the failure stands, and says
   * what never left this side. */
  private readonly noteHeldByNode = (): void => {
    if (!this.socket.destroyed) this.heldByNodeBytes = this.socket.writableLength;
  };

  /** Python's `sock.send(data)`, except that it never blocks: the data
   * waits in the outbox until the end of the loop round. */
  write(data: Buffer): void {
    if (this.closed) return;
    if (this.outbox === undefined) this.reactor.queueWrite(this);
    this.outbox = nextStep(this.outbox ?? this.reactor.outboxStart, data);
  }

  /** Called by the reactor at the end of a round: everything written in the
   * round leaves in one write. */
  flush(): void {
    const outbox = this.outbox;
    this.outbox = undefined;
    if (outbox === undefined || !this.socket.writable) return;
    // One buffer, one write() and one system call, however many messages
    // the round wrote: handing Node many small buffers costs more, per
    // buffer, than copying them into one. Connections written the same
    // share the list, and so the buffer, made once.
    outbox.joined ??= joinSteps(outbox);
    // The callback comes once the kernel has taken this write (or it failed).
    const accepted = this.socket.write(outbox.joined, this.noteHeldByNode);
    // write() returning true means the kernel took everything: the output
    // has drained already. False means Node holds what the kernel would not
    // take, and 'drain' will say when it has gone.
    this.noteHeldByNode();
    this.drained = accepted && this.heldByNodeBytes === 0;
  }

  /** Python's `sock.close()`: sends what is pending, then closes. Output
   * the peer has not taken after `lingerMs` is dropped with the socket. */
  close(lingerMs = 2000): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.reactor.forget(this);
    // end() sends FIN after the output: the peer reads everything, then
    // the end. Closing outright with bytes unread would make the kernel
    // send a reset, which can destroy output the peer has not read yet.
    this.socket.end();
    // Whatever the peer still sends is read and thrown away, so that its end
    // of the stream is seen and the socket freed as soon as the peer closes.
    // Reading must start at the handle: forget() stopped it there, and the
    // stream's resume() alone would not start it again (src/streams.ts).
    // A peer that goes on sending past a limit is not worth the time.
    let discarded = 0;
    this.socket.removeAllListeners('data').on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DISCARDED_AFTER_CLOSE) this.socket.destroy();
    });
    startReadingNow(this.socket);
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
  /** Lines readline has given and the loop has not taken yet. */
  private waiting = 0;
  /** Reading was paused here: too many lines waiting, or not watched. */
  private paused = false;
  /** readline has closed, which select() may not have seen yet: it can no
   * longer be paused or resumed (Node 22 and later throw if it is). */
  private inputClosed = false;
  watchedInRound = 0;

  constructor(
    reactor: Reactor<Inbox>,
    readonly input: ReadlineInterface,
  ) {
    input.on('line', (line) => {
      reactor.push({ kind: 'line', console: this, line });
      // Input from a fast pipe would otherwise pile up here, line after
      // line, however slowly the loop takes them.
      if (++this.waiting >= CONSOLE_HIGH_WATER) this.pause();
    });
    input.on('close', () => {
      this.inputClosed = true;
      reactor.push({ kind: 'console-end', console: this });
    });
  }

  get readable(): boolean {
    return this.lines.length > 0 || this.ended;
  }

  /** The next line, or null at end of input. */
  readLine(): string | null {
    const line = this.lines.shift();
    if (line === undefined) return null;
    this.waiting -= 1;
    return line;
  }

  /** Called by select(): read while watched and not too far ahead. */
  watched(watched: boolean): void {
    if (!watched) this.pause();
    else if (this.paused && !this.inputClosed && this.waiting < CONSOLE_HIGH_WATER / 2) {
      this.paused = false;
      this.input.resume();
    }
  }

  close(): void {
    this.input.close();
  }

  private pause(): void {
    if (this.paused || this.ended || this.inputClosed) return;
    this.paused = true;
    this.input.pause();
  }
}

/** An IPv4 peer of a dual-stack listener shows as ::ffff:1.2.3.4. */
function cleanAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/, '');
}
