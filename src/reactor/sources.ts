// What select() watches: the listening socket, a connection, a console.
// Read src/reactor/select.ts first; this file second.
//
// Each source turns Node's callbacks into events pushed into the reactor's
// one queue, and holds what those events left for the loop: the listener
// its backlog of connections, a connection the bytes in its inbox, a
// console its lines. A source is readable when the loop has something to
// take from it.
//
// The reactor knows nothing of what the bytes mean. What counts as
// "something to read" on a socket is its inbox's business: a frame decoder
// makes a socket holding half a frame not readable, just as a blocking
// recv() of the whole frame would still be waiting.

import type { Server, Socket } from 'node:net';
import type { Interface as ReadlineInterface } from 'node:readline';
import { startReadingNow, stopReadingNow } from '../streams.js';
import { joinSteps, type Outboxes, type OutboxStep } from './outbox.js';
import type { Reactor } from './select.js';

/** Where a connection's bytes go until the loop takes them. */
export interface Inbox {
  /** Takes bytes as they arrive; must not throw. */
  push(chunk: Buffer): void;
  /** Something whole (or an error) is there to take. */
  readonly ready: boolean;
  /** Bytes it keeps, for flow control. */
  readonly bufferedBytes: number;
  /** Part of something has arrived and the rest has not. */
  readonly incomplete: boolean;
  /** How many things (frames) have begun to arrive, the unfinished one included. */
  readonly framesStarted: number;
  /** How many Buffers the bytes kept are in (each costs memory beyond its bytes). */
  readonly keptChunks: number;
}

/** How many connections a listener may hold (accepted or waiting to be). */
export interface ListenerOptions {
  maxConnections?: number;
}

/** Anything select() can watch. */
export type Source = Listener<Inbox> | Connection<Inbox> | Console;

/** A console with this many lines waiting for the loop stops reading. */
const CONSOLE_HIGH_WATER = 1024;

/** Bytes read and thrown away from a closed connection before it is
 * dropped outright: its peer is sending, not listening for the end. */
const DISCARDED_AFTER_CLOSE = 256 * 1024;

/** The listening socket. Python's `server.accept()` becomes `accept()`:
 * Node has already accepted the connection, so this only hands it over. */
export class Listener<TInbox extends Inbox> {
  readonly backlog: Connection<TInbox>[] = [];
  /** Every connection Node has handed over that the loop has not accepted,
   * in the backlog or still in the reactor's queue. */
  private readonly unaccepted = new Set<Connection<TInbox>>();
  /** Connections closed at once since the loop last looked, because the
   * listener had as many open as it may; and where the last one came from. */
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
  /** Node had to keep output back, and has now written all of it. */
  drained = false;
  closed = false;
  /** When the first byte of the unfinished frame in the inbox came (`performance.now()`, ms). */
  unfinishedSince: number | undefined;
  /** Node is reading from the socket, and since when (`performance.now()`, ms). */
  reading = false;
  readingSince = 0;
  /** For flow.ts: its inbox's cost as last counted, the cost of its events
   * not yet applied, and the last time select() watched it. */
  countedBytes = 0;
  queuedBytes = 0;
  watchedInRound = 0;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** What the loop has written since the last flush, as the last step of a
   * list shared with every connection written the same; undefined for nothing. */
  private outbox: OutboxStep | undefined;
  private readonly outboxes: Outboxes;
  /** Bytes of output left in Node (not yet handed to the kernel), as last
   * known while the socket was sound: see `noteLeftInNode`. */
  private leftInNode = 0;

  constructor(
    private readonly reactor: Reactor<TInbox>,
    readonly socket: Socket,
    /** Numbers connections in the order they came, where Python would
     * print the socket's file descriptor: Node does not expose one. */
    readonly id: number,
  ) {
    this.inbox = reactor.makeInbox();
    this.outboxes = reactor.outboxes;
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

  /** Input the reactor keeps for this connection, as charged against the
   * budget: in its inbox (as last counted) and arrived but not yet applied. */
  get inputBytes(): number {
    return this.countedBytes + this.queuedBytes;
  }

  /** A chunk Node read reaches the inbox (called by select()). */
  receive(chunk: Buffer): void {
    // A closed connection was forgotten, its bytes with it.
    if (this.closed) return;
    const { inbox } = this;
    const startedBefore = inbox.framesStarted;
    inbox.push(chunk);
    if (!inbox.incomplete) this.unfinishedSince = undefined;
    else if (inbox.framesStarted !== startedBefore) this.unfinishedSince = performance.now();
    this.reactor.flow.received(this, chunk);
  }

  /** Bytes written but not yet taken by the kernel: this round's outbox and
   * what Node still keeps from earlier rounds. */
  get pendingOutputBytes(): number {
    return (this.outbox?.bytes ?? 0) + this.leftInNode;
  }

  /** Looks again at what is left in Node (`writableLength`), unless the
   * socket has failed. It changes only when flush() writes and when a write
   * has gone to the kernel, which is when this is called; so the count is
   * never asked of the socket elsewhere (a broadcast asks it of every client
   * it writes to: in a room of 10,000, asking each socket costs more than
   * the write itself). A socket that fails is destroyed, and Node forgets
   * what it kept then: the count from just before the failure stands, and
   * says what never left this side. (A write's callback may be told of
   * the failure before the socket is destroyed: Node 22 and later clear
   * what they kept first.) */
  private readonly noteLeftInNode = (error?: Error | null): void => {
    if (!error && !this.socket.destroyed) this.leftInNode = this.socket.writableLength;
  };

  /** Python's `sock.send(data)`, except that it never blocks: the data
   * waits in the outbox until the end of the loop round. */
  write(data: Buffer): void {
    if (this.closed) return;
    this.outbox = this.outboxes.append(this, this.outbox, data);
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
    const accepted = this.socket.write(outbox.joined, this.noteLeftInNode);
    // write() returning true means the kernel took everything: the output
    // has drained already. False means Node keeps what the kernel would not
    // take, and 'drain' will say when it has gone.
    this.noteLeftInNode();
    this.drained = accepted && this.leftInNode === 0;
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
  /** Node reads the console: it is watched, and not too many lines wait. */
  private reading = true;
  /** readline has closed, which select() may not have seen yet: it can no
   * longer be stopped or started (Node 22 and later throw if it is). */
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
      if (++this.waiting >= CONSOLE_HIGH_WATER) this.stopReading();
    });
    input.on('close', () => {
      this.inputClosed = true;
      if (this.failure === undefined) reactor.push({ kind: 'console-end', console: this });
    });
    // A console that cannot be read is no console: a server started as
    // `nohup ... &` has a write-only /dev/null for stdin, and its first read
    // fails (EBADF). That ends the console, as end of input does; the loop
    // says why. Unheard, the error would end the process.
    input.on('error', (error) => {
      if (this.failure !== undefined) return;
      this.failure = error;
      reactor.push({ kind: 'console-end', console: this });
    });
  }

  /** Why the console could not be read, if it failed rather than ended. */
  failure: Error | undefined;

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
    if (!watched) this.stopReading();
    else if (!this.reading && !this.inputClosed && this.waiting < CONSOLE_HIGH_WATER / 2) {
      this.reading = true;
      this.input.resume();
    }
  }

  close(): void {
    this.input.close();
  }

  private stopReading(): void {
    if (!this.reading || this.ended || this.inputClosed) return;
    this.reading = false;
    this.input.pause();
  }
}

/** An IPv4 peer of a dual-stack listener shows as ::ffff:1.2.3.4. */
function cleanAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/, '');
}
