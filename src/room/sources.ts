// The room's listener, connection and console: the core's (src/recipe/select.ts),
// with what a server open to anyone needs of each.
//
// The core's connection writes straight to its socket and closes by ending
// it. Here the connection's reads start only when select() watches it
// (flow.ts), a round's writes wait in an outbox and leave in one write
// (outbox.ts), and a close sends what is pending, then reads and throws
// away what the peer still sends, for a bounded time. The listener holds at
// most so many sockets, and counts the newcomers Node closed at once. The
// console stops reading when the loop falls behind, and a console that
// cannot be read is no console. Each tells the reactor's watcher, if there
// is one, what the loop took from it, wrote to it and closed (watcher.ts).

import type { Server, Socket } from 'node:net';
import type { Interface as ReadlineInterface } from 'node:readline';
import { Connection, Console, Listener, type Reactor } from '../recipe/select.js';
import { ProtocolError } from '../wire/wire.js';
import { joinSteps, type Outboxes, type OutboxStep } from './outbox.js';
import { startReadingNow, stopReadingNow } from './streams.js';
import type { RoundWatcher } from './watcher.js';

/** What the room's sources need of their reactor (./reactor.ts). */
export interface RoomHost extends Reactor {
  readonly outboxes: Outboxes;
  readonly watcher: RoundWatcher | undefined;
  connection(socket: Socket): RoomConnection;
  forget(connection: RoomConnection): void;
}

/** How many connections a listener may hold (accepted or waiting to be). */
export interface ListenerOptions {
  maxConnections?: number;
}

/** A console with this many lines waiting for the loop stops reading. */
const CONSOLE_HIGH_WATER = 1024;

/** Bytes read and thrown away from a closed connection before it is
 * dropped outright: its peer is sending, not listening for the end. */
const DISCARDED_AFTER_CLOSE = 256 * 1024;

/** The listening socket. Python's `server.accept()` becomes `accept()`:
 * Node has already accepted the connection, so this only hands it over. */
export class RoomListener extends Listener {
  declare readonly waiting: RoomConnection[];
  /** Every connection Node has handed over that the loop has not accepted,
   * waiting or still in the reactor's queue. */
  private readonly unaccepted = new Set<RoomConnection>();
  /** Connections closed at once since the loop last looked, because the
   * listener had as many open as it may; and where the last one came from. */
  private refused = 0;
  private lastRefused = '';

  declare protected readonly reactor: RoomHost;

  constructor(reactor: RoomHost, server: Server, options: ListenerOptions) {
    super(reactor, server);
    // Node counts every socket it has handed over until that socket closes,
    // and closes a newcomer at once when there are as many as this.
    if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
    server.on('drop', (data) => {
      const from = cleanAddress(data?.remoteAddress);
      reactor.push({ kind: 'refused', source: this, bytes: 0, apply: () => this.noteRefused(from) });
    });
  }

  /** The connection is wrapped (every listener attached, reading stopped)
   * in the very callback that hands it over: a reset that comes a moment
   * later must already find someone listening. */
  protected override wrap(socket: Socket): RoomConnection {
    const connection = this.reactor.connection(socket);
    this.unaccepted.add(connection);
    return connection;
  }

  override get readable(): boolean {
    return this.waiting.length > 0 || this.refused > 0;
  }

  override accept(): RoomConnection {
    const connection = this.waiting.shift()!;
    this.unaccepted.delete(connection);
    this.reactor.watcher?.took(this, `accepted connection ${connection.id} from ${connection.remoteAddress}`);
    return connection;
  }

  /** How many were refused since the last call, and where the last came from. */
  takeRefused(): { count: number; lastFrom: string } {
    const refused = { count: this.refused, lastFrom: this.lastRefused };
    if (this.refused > 0) this.reactor.watcher?.took(this, `${this.refused} closed at once by Node`);
    this.refused = 0;
    return refused;
  }

  override close(): void {
    this.server.close();
    for (const connection of this.unaccepted) connection.destroy();
    this.unaccepted.clear();
    this.waiting.length = 0;
  }

  private noteRefused(from: string): void {
    this.refused += 1;
    this.lastRefused = from;
  }
}

/** One TCP connection, read only while select() watches it, written a
 * round at a time. */
export class RoomConnection extends Connection {
  closed = false;
  /** When the first byte of the unfinished frame in the inbox came (`performance.now()`, ms). */
  unfinishedSince: number | undefined;
  /** Node is reading from the socket, and since when (`performance.now()`, ms). */
  reading = false;
  readingSince = 0;
  /** Kept by flow.ts: the inbox's cost as last counted, the cost of its
   * chunks still queued, and the last select() that watched it. */
  countedBytes = 0;
  queuedBytes = 0;
  watchedInRound = 0;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** What the loop has written since the last flush, as the last step of a
   * list shared with every connection written the same; undefined for nothing. */
  private outbox: OutboxStep | undefined;
  private readonly outboxes: Outboxes;
  private readonly watcher: RoundWatcher | undefined;
  /** Bytes of output left in Node (not yet handed to the kernel), as last
   * known while the socket was sound: see `noteLeftInNode`. */
  private leftInNode = 0;

  constructor(
    private readonly reactor: RoomHost,
    socket: Socket,
  ) {
    super(reactor, socket);
    this.outboxes = reactor.outboxes;
    this.watcher = reactor.watcher;
    this.remoteAddress = cleanAddress(socket.remoteAddress);
    this.remotePort = socket.remotePort ?? 0;
    // Not read until select() watches it, as the kernel does not hand a
    // program bytes it has not asked for.
    stopReadingNow(socket);
    // Writes are gathered per loop round already; Nagle's algorithm would
    // only hold the gathered batch back waiting for an acknowledgement.
    // (A socket already reset has no handle left to set it on.)
    if (!socket.destroyed) socket.setNoDelay(true);
  }

  /** Input the reactor keeps for this connection, as charged against the
   * budget: in its inbox (as last counted) and arrived but not yet applied. */
  get inputBytes(): number {
    return this.countedBytes + this.queuedBytes;
  }

  protected override toInbox(chunk: Buffer): void {
    // A closed connection was forgotten, its bytes with it.
    if (this.closed) return;
    const { inbox } = this;
    const startedBefore = inbox.framesStarted;
    super.toInbox(chunk);
    if (!inbox.incomplete) this.unfinishedSince = undefined;
    else if (inbox.framesStarted !== startedBefore) this.unfinishedSince = performance.now();
  }

  /** The next frame, as the core's; the watcher hears what was taken:
   * a message, or (when there is none) the end the loop will find. */
  override nextFrame(): Buffer | undefined {
    const { watcher } = this;
    if (watcher === undefined) return super.nextFrame();
    let frame: Buffer | undefined;
    try {
      frame = super.nextFrame();
    } catch (error) {
      watcher.took(this, `a bad frame (${error instanceof ProtocolError ? error.reason : String(error)})`);
      throw error;
    }
    watcher.took(this, frame !== undefined ? 'a message' : this.endTaken());
    return frame;
  }

  /** What the loop finds when no frame is left: how the stream ended. */
  private endTaken(): string {
    if (this.error !== undefined) return `an error (${(this.error as NodeJS.ErrnoException).code ?? this.error.message})`;
    if (this.inbox.incomplete) return 'end of stream inside a frame';
    return this.ended ? 'end of stream' : 'nothing';
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
  override write(data: Buffer): void {
    if (this.closed) return;
    this.outbox = this.outboxes.append(this, this.outbox, data);
    this.watcher?.wrote(this);
  }

  /** Called by the reactor at the end of a round: everything written in the
   * round leaves in one write. */
  flush(): void {
    const outbox = this.outbox;
    this.outbox = undefined;
    if (outbox === undefined || this.closed || !this.socket.writable) return;
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
  override close(lingerMs = 2000): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.reactor.forget(this);
    this.watcher?.closed(this);
    // end() sends FIN after the output: the peer reads everything, then
    // the end. Closing outright with bytes unread would make the kernel
    // send a reset, which can destroy output the peer has not read yet.
    this.socket.end();
    // Whatever the peer still sends is read and thrown away, so that its end
    // of the stream is seen and the socket freed as soon as the peer closes.
    // Reading must start at the handle: forget() stopped it there, and the
    // stream's resume() alone would not start it again (src/room/streams.ts).
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
    if (!this.closed) this.watcher?.closed(this);
    this.closed = true;
    this.reactor.forget(this);
    this.socket.destroy();
  }
}

/** Lines typed on a console, read only while select() watches it and the
 * loop keeps up. */
export class RoomConsole extends Console {
  /** Lines readline has given and the loop has not taken yet. */
  private waitingLines = 0;
  /** Node reads the console: it is watched, and not too many lines wait. */
  private reading = true;
  /** readline has closed, which select() may not have seen yet: it can no
   * longer be stopped or started (Node 22 and later throw if it is). */
  private inputClosed = false;
  /** Why the console could not be read, if it failed rather than ended. */
  failure: Error | undefined;
  watchedInRound = 0;
  private readonly watcher: RoundWatcher | undefined;

  constructor(reactor: RoomHost, input: ReadlineInterface) {
    super(reactor, input);
    this.watcher = reactor.watcher;
    // Input from a fast pipe would otherwise pile up here, line after
    // line, however slowly the loop takes them.
    input.on('line', () => {
      if (++this.waitingLines >= CONSOLE_HIGH_WATER) this.stopReading();
    });
    input.on('close', () => {
      this.inputClosed = true;
    });
    // A console that cannot be read is no console: a server started as
    // `nohup ... &` has a write-only /dev/null for stdin, and its first read
    // fails (EBADF). That ends the console, as end of input does; the loop
    // says why. Unheard, the error would end the process.
    input.on('error', (error) => {
      if (this.failure !== undefined) return;
      this.failure = error;
      reactor.push({ kind: 'console-end', source: this, bytes: 0, apply: () => (this.ended = true) });
    });
  }

  override readLine(): string | null {
    const line = super.readLine();
    if (line !== null) this.waitingLines -= 1;
    this.watcher?.took(this, line !== null ? 'a line' : this.failure !== undefined ? 'cannot be read' : 'end of input');
    return line;
  }

  /** Called by select(): read while watched and not too far ahead. */
  watched(watched: boolean): void {
    if (!watched) this.stopReading();
    else if (!this.reading && !this.inputClosed && this.waitingLines < CONSOLE_HIGH_WATER / 2) {
      this.reading = true;
      this.input.resume();
    }
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
