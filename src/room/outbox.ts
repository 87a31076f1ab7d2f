// What the loop writes to a connection in a round, kept until the round
// ends and handed to Node then as one buffer. A first read may skip this
// file: the core writes each message on its own (a write and a system
// call per message per client); think of an outbox as an array of
// buffers, joined at the end of the round.
//
// While the loop is busy (the next round has work waiting already: a
// client sent several messages, and the loop takes one a round, as the
// recipe does), the rounds' outboxes are let to grow over a few rounds and
// leave together, when the loop is about to sleep or to be held, or once
// they reach GATHER_BYTES or GATHER_MS. A burst of messages then costs a
// write per socket per burst, not per round; a line waits a few
// milliseconds at most for the rounds after it.
//
// A broadcast writes the same frame, in the same order, to every client.
// Kept as an array per connection, a round of 500 joins in a room of 10,000
// would push five million references into 10,000 arrays, and the flush
// would then have to compare them to find the identical ones. Instead the
// round's outboxes are one list that shares its steps: writing a buffer to
// an outbox that ends at a step just extended with that very buffer takes
// that step instead of making one. Outboxes written the same end at the
// same step, and are joined into one buffer once. An outbox written
// differently (the sender, who does not get its own line; a newcomer, who
// gets its handshake reply first) goes on along steps of its own.
//
// A connection keeps only the last step of its outbox (see Connection.write
// in src/room/sources.ts); the list is let go once the outboxes leave.

import { Buffer } from 'node:buffer';

/** Busy rounds' outboxes leave once one of them holds this many bytes
 * (unless told fewer)... (At 8 KiB and 2 ms a fresh server's burst of
 * 10 × 100 lines in a room of 100 cost 0.39× plain's CPU per delivery; at
 * 64 KiB and 8 ms, 0.26×; at 256 KiB and 16 ms no less, and more memory.
 * A line waiting at low load is not held at all: nothing else is ready then.) */
export const GATHER_BYTES = 64 * 1024;
/** ...or this many milliseconds after the first write. */
const GATHER_MS = 8;

/** What an outbox belongs to: a connection, which writes it out (./sources.ts). */
export interface Flushable {
  /** Called even once the connection has closed: then it writes nothing. */
  flush(): void;
}

/** The outboxes: where they start, and who was written. */
export class Outboxes {
  /** Where every outbox starts, until they next leave. */
  private start = emptyOutbox();
  /** Who was written, each once (`append` adds a connection at its first
   * write), in `written[0]` to `written[writtenCount - 1]`. Not a Set, nor
   * an array made anew: refilled with every client at each flush, either
   * grows its table anew each time, and in a room of 10,000 those tables
   * outlive the young generation while the outboxes gather. */
  private readonly written: (Flushable | undefined)[] = [];
  private writtenCount = 0;
  /** `gatherBytes`: the most a busy round's outbox holds before it leaves. */
  constructor(private readonly gatherBytes = GATHER_BYTES) {}

  /** Bytes in the largest outbox, and when the first was written (`performance.now()`, ms). */
  private largest = 0;
  private since = 0;

  /** The outbox `last` (undefined for an empty one) of `connection`, with
   * `data` written after it. */
  append(connection: Flushable, last: OutboxStep | undefined, data: Buffer): OutboxStep {
    if (last === undefined) {
      if (this.writtenCount === 0) this.since = performance.now();
      this.written[this.writtenCount++] = connection;
    }
    const step = nextStep(last ?? this.start, data);
    if (step.bytes > this.largest) this.largest = step.bytes;
    return step;
  }

  /** Called by select() at the end of every round: the outboxes leave,
   * unless `moreReady` (the next round has work already) and they have not
   * gathered long enough. */
  roundOver(moreReady: boolean): void {
    if (this.writtenCount === 0) return;
    if (moreReady && this.largest < this.gatherBytes && performance.now() - this.since < GATHER_MS) return;
    this.flush();
  }

  /** What each connection was written leaves in one write, and the next
   * outboxes start from a new list. (A connection closed since its write
   * is flushed too: its flush() writes nothing.) */
  flush(): void {
    const { written } = this;
    for (let i = 0; i < this.writtenCount; i++) {
      written[i]!.flush();
      written[i] = undefined;
    }
    this.writtenCount = 0;
    this.start = emptyOutbox();
    this.largest = 0;
  }
}

/** One write in a round's outboxes, after the writes before it. */
export interface OutboxStep {
  readonly before: OutboxStep | undefined;
  readonly data: Buffer;
  /** Bytes from the start of the round up to this step. */
  readonly bytes: number;
  /** The last step made after this one, for the next outbox to share. */
  after: OutboxStep | undefined;
  /** This step's outbox as one buffer, once a connection has flushed it. */
  joined: Buffer | undefined;
}

const NOTHING = Buffer.alloc(0);

/** Where every outbox of a round starts: the one step with nothing before it. */
export function emptyOutbox(): OutboxStep {
  return { before: undefined, data: NOTHING, bytes: 0, after: undefined, joined: undefined };
}

/** The outbox `last` with `data` written after it: shared if the step made
 * last after `last` wrote the very same buffer. */
export function nextStep(last: OutboxStep, data: Buffer): OutboxStep {
  if (last.after?.data === data) return last.after;
  const step = { before: last, data, bytes: last.bytes + data.length, after: undefined, joined: undefined };
  last.after = step;
  return step;
}

/** Every buffer of an outbox, in order, as one buffer. */
export function joinSteps(last: OutboxStep): Buffer {
  if (last.data.length === last.bytes) return last.data; // one write, or nothing before it
  const joined = Buffer.allocUnsafe(last.bytes);
  for (let step = last; step.before !== undefined; step = step.before) joined.set(step.data, step.bytes - step.data.length);
  return joined;
}
