// Flow control: what a kernel does by itself and Node does not. A first
// read may skip this file: the core (src/recipe/select.ts) works without
// it, with Node reading every socket as fast as bytes come, however slowly
// the loop takes them, until memory runs out.
//
// A kernel reads into a socket's buffer only so far, and then TCP makes the
// sender wait; a listening socket's backlog holds connections nobody has
// accepted, unread. Node reads eagerly instead. So here Node reads only
// from the connections select() is asked to watch, only while their inbox
// has room (below a high-water mark) and all the input kept, in every inbox
// and in the queue, is within a budget. When the budget is spent, every
// read stops at once, and select() returns so that the loop can free some.

import type { Source } from '../recipe/select.js';
import { RoomConnection, RoomConsole } from './sources.js';
import { startReadingNow, stopReadingNow } from './streams.js';

export interface FlowOptions {
  /** An inbox holding this much that is ready to take stops reading from its
   * socket until the loop catches up; TCP then slows the sender down. */
  inboxHighWater?: number;
  /** Bytes of input kept at once, in every inbox and in events not yet
   * applied, each chunk charged CHUNK_OVERHEAD more than its length. When
   * it is reached, Node stops reading from every connection until the loop
   * has taken some (see `inputBytes`). */
  inputBudget?: number;
}

/** What keeping one chunk of input costs beyond its bytes: the Buffer
 * object, its backing store's bookkeeping, and the queued event (about
 * 600 bytes on Node 20, measured with one-byte reads). A peer that sends
 * one byte at a time makes one chunk of each byte, so the input budget
 * charges every chunk this much more than its length; otherwise a budget
 * of 64 MiB would let one-byte chunks take gigabytes. */
export const CHUNK_OVERHEAD = 1024;

/** What a chunk of input is charged against the budget while it is kept. */
const chunkCost = (bytes: number) => bytes + CHUNK_OVERHEAD;

export class Flow {
  readonly inboxHighWater: number;
  readonly inputBudget: number;
  /** Every read was stopped because the input budget was spent. */
  overBudget = false;
  /** Connections Node is reading from. */
  private readonly reading = new Set<RoomConnection>();
  /** Open connections Node is not reading from: new ones, and the ones
   * stopped. While there are none, and select() watches the very inputs
   * the last look saw with the budget as it was, no read needs starting or
   * stopping, and watch() looks at nothing. */
  private readonly notReading = new Set<RoomConnection>();
  private lastLook: { inputs: Source[]; underBudget: boolean } = { inputs: [], underBudget: true };
  private readonly consoles: RoomConsole[] = [];
  /** Connections select() reported readable: the loop has taken from their
   * inboxes since, and what they keep is counted again next time. */
  private taken: RoomConnection[] = [];
  /** Bytes in inboxes and in queued data events, as charged. */
  private bytes = 0;
  /** Counts the calls to watch(), one per select(). */
  private watchCount = 0;

  constructor(options: FlowOptions) {
    this.inboxHighWater = options.inboxHighWater ?? 256 * 1024;
    this.inputBudget = options.inputBudget ?? Infinity;
  }

  /** Bytes of input kept: in every inbox, and arrived but not yet applied.
   * The loop may look at this after taking what it wanted, to decide whom
   * to cut off when it is over the budget. */
  get inputBytes(): number {
    this.countTaken();
    return this.bytes;
  }

  addConsole(stdin: RoomConsole): void {
    this.consoles.push(stdin);
  }

  /** Called by select() as it starts. Node reads from exactly the watched
   * connections that have room (`hasRoom`) while the input kept is below
   * the budget. A console is read while watched and not too many lines
   * ahead.
   *
   * The kernel's select() looks at every descriptor it is given; here a
   * round of a busy loop, watching what it watched last round with every
   * connection read, checks only that it is so (`sameSources`). Otherwise
   * each input is looked at once, and the connections no longer watched
   * are looked for only when there are some: when fewer watched
   * connections are read than Node reads in all. */
  watch(inputs: readonly Source[]): void {
    this.countTaken();
    const underBudget = this.bytes < this.inputBudget;
    this.overBudget = !underBudget;
    const last = this.lastLook;
    if (this.notReading.size > 0 || underBudget !== last.underBudget || !sameSources(inputs, last.inputs)) {
      this.look(inputs, underBudget);
      this.lastLook = { inputs: [...inputs], underBudget };
    }
    for (const stdin of this.consoles) stdin.watched(stdin.watchedInRound === this.watchCount);
  }

  /** A connection was made: Node does not read it until select() watches it. */
  adopt(connection: RoomConnection): void {
    this.notReading.add(connection);
  }

  /** Starts and stops reads as `watch` says. */
  private look(inputs: readonly Source[], underBudget: boolean): void {
    const watchCount = ++this.watchCount;
    let watchedAndReading = 0;
    for (const source of inputs) {
      if (source instanceof RoomConnection) {
        if (source.watchedInRound === watchCount) continue; // listed twice
        source.watchedInRound = watchCount;
        if (!source.reading && underBudget && this.hasRoom(source)) this.startReading(source);
        if (source.reading) watchedAndReading += 1;
      } else if (source instanceof RoomConsole) {
        source.watchedInRound = watchCount;
      }
    }
    if (watchedAndReading < this.reading.size) {
      for (const connection of this.reading) {
        if (connection.watchedInRound !== watchCount) this.stopReading(connection);
      }
    }
  }

  /** The inbox can take more: below half the high-water mark, or holding
   * only part of a frame (which only more bytes can finish). */
  private hasRoom(connection: RoomConnection): boolean {
    const { inbox } = connection;
    return !connection.closed && (!inbox.ready || inbox.bufferedBytes < this.inboxHighWater / 2);
  }

  /** select() reports these readable: the loop will take from their inboxes. */
  reported(readable: readonly Source[]): void {
    for (const source of readable) if (source instanceof RoomConnection) this.taken.push(source);
  }

  /** A chunk of `bytes` was queued, in Node's 'data' callback. Like a
   * kernel whose buffers are full, every read stops at once when the budget
   * is spent; select() starts them again once the loop has taken enough. */
  charge(connection: RoomConnection, bytes: number): void {
    // A closed connection's bytes are thrown away as they come (sources.ts).
    if (connection.closed) return;
    connection.queuedBytes += chunkCost(bytes);
    this.bytes += chunkCost(bytes);
    if (this.bytes >= this.inputBudget && !this.overBudget) {
      this.overBudget = true;
      for (const reading of this.reading) this.stopReading(reading);
    }
  }

  /** The chunk charged has reached the connection's inbox (in select()). */
  inboxed(connection: RoomConnection, bytes: number): void {
    // forget() let go of everything a closed connection was charged.
    if (connection.closed) return;
    connection.queuedBytes -= chunkCost(bytes);
    this.bytes -= chunkCost(bytes);
    this.count(connection);
    // The kernel keeps unread bytes in the socket's buffer and stops the
    // sender when it fills. Node reads eagerly instead, so it is told to
    // stop reading while the loop has plenty to take from this socket.
    const { inbox } = connection;
    if (inbox.ready && inbox.bufferedBytes >= this.inboxHighWater) this.stopReading(connection);
  }

  /** The connection closed: its input no longer counts. */
  forget(connection: RoomConnection): void {
    this.stopReading(connection);
    this.notReading.delete(connection);
    this.bytes -= connection.inputBytes;
    connection.countedBytes = 0;
    connection.queuedBytes = 0;
  }

  /** Brings the count of a connection's inbox up to date. */
  private count(connection: RoomConnection): void {
    // Each Buffer the inbox keeps is charged as a chunk is: the inbox copies
    // small reads together, so that a slow link's one-byte reads cost about
    // their bytes.
    const { inbox } = connection;
    const kept = connection.closed ? 0 : inbox.bufferedBytes + inbox.keptChunks * CHUNK_OVERHEAD;
    this.bytes += kept - connection.countedBytes;
    connection.countedBytes = kept;
  }

  private countTaken(): void {
    for (const connection of this.taken) this.count(connection);
    this.taken = [];
  }

  private startReading(connection: RoomConnection): void {
    connection.reading = true;
    connection.readingSince = performance.now();
    this.reading.add(connection);
    this.notReading.delete(connection);
    startReadingNow(connection.socket);
  }

  private stopReading(connection: RoomConnection): void {
    if (!connection.reading) return;
    connection.reading = false;
    this.reading.delete(connection);
    if (!connection.closed) this.notReading.add(connection);
    stopReadingNow(connection.socket);
  }
}

/** The same sources, in the same order. */
function sameSources(a: readonly Source[], b: readonly Source[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
