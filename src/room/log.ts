// Where the server's own lines go (the log on stdout, the trace on stderr),
// written so that an output that stalls or goes away never stops the loop.
//
// Node writes to a pipe or a terminal synchronously on Linux. A reader that
// stops reading (a pipe into a program that is busy, a terminal paused with
// Ctrl-S) would block the whole process in write(2), and a reader that has
// gone (`| head -1`) makes the write fail with EPIPE, which process.stdout
// reports as an 'error' event that ends the process. Here lines are written
// with fs.write, which runs on Node's thread pool: a write that blocks holds
// one thread of the pool, not the loop. Lines wait in a bounded queue
// meanwhile; past it they are dropped and counted, and once the output
// takes lines again, one line says how many were lost.
//
// A flood of connections would also be a flood of lines: `RateLimitedLog`
// writes the first lines of each second whole and sums up the rest.
//
// One writer can serve two outputs (the log on stdout, the trace on
// stderr, with `to(2)`): one queue and one write at a time keep the lines
// in the order they were said, where two writers on the thread pool could
// swap them in a terminal that shows both.

import { write } from 'node:fs';
import { howMany } from './plural.js';

/** Bytes of lines kept while the output is not taking them. */
export const DEFAULT_LOG_QUEUE_BYTES = 1024 * 1024;

export class LogWriter {
  /** Lines waiting, each with the output it goes to. */
  private queue: { fd: number; text: string }[] = [];
  private queuedBytes = 0;
  private writing = false;
  private dropped = 0;
  /** Outputs that failed (their reader has gone): nothing more is written there. */
  private readonly broken = new Set<number>();
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly maxQueuedBytes = DEFAULT_LOG_QUEUE_BYTES,
  ) {}

  /** Writes one line (a newline is added). Never blocks, never throws. */
  readonly line = (text: string): void => this.lineTo(this.fd, text);

  /** Writes lines to another output, in one order with this one's. */
  to(fd: number): (text: string) => void {
    return (text) => this.lineTo(fd, text);
  }

  private lineTo(fd: number, text: string): void {
    if (this.broken.has(fd)) return;
    if (this.queuedBytes + text.length + 1 > this.maxQueuedBytes) {
      this.dropped += 1;
      return;
    }
    this.noteDropped();
    this.enqueue(fd, `${text}\n`);
  }

  /** Resolves once every queued line has been written (or cannot be), or
   * after `timeoutMs`, whichever is first: at exit, a stalled output must
   * not keep the process alive for ever. */
  flushed(timeoutMs: number): Promise<void> {
    return this.writing ? whenCalled(this.idleWaiters, timeoutMs) : Promise.resolve();
  }

  private enqueue(fd: number, text: string): void {
    this.queue.push({ fd, text });
    this.queuedBytes += text.length;
    if (!this.writing) this.writeQueued();
  }

  /** Lines were dropped since the last line kept: say so, in their place. */
  private noteDropped(): void {
    if (this.dropped === 0) return;
    const dropped = this.dropped;
    this.dropped = 0;
    this.enqueue(this.fd, `(${howMany(dropped, 'log line')} dropped: the output was not taking them)\n`);
  }

  private writeQueued(): void {
    if (this.queue.length === 0) {
      this.writing = false;
      for (const waiter of this.idleWaiters.splice(0)) waiter();
      return;
    }
    this.writing = true;
    // Every line waiting for the same output as the first, in one write.
    const { fd } = this.queue[0]!;
    let count = 1;
    while (count < this.queue.length && this.queue[count]!.fd === fd) count += 1;
    const text = this.queue
      .splice(0, count)
      .map((line) => line.text)
      .join('');
    this.queuedBytes -= text.length;
    this.writeBytes(fd, Buffer.from(text, 'utf8'));
  }

  private writeBytes(fd: number, data: Buffer): void {
    write(fd, data, 0, data.length, null, (error, written) => {
      if (error?.code === 'EAGAIN') {
        // A non-blocking output that is full: try again shortly.
        setTimeout(() => this.writeBytes(fd, data), 10);
      } else if (error) {
        // EPIPE, EIO (a terminal that closed)...: nobody is reading any more.
        this.broken.add(fd);
        this.queue = this.queue.filter((line) => line.fd !== fd);
        this.queuedBytes = this.queue.reduce((bytes, line) => bytes + line.text.length, 0);
        this.writeQueued();
      } else if (written < data.length) {
        this.writeBytes(fd, data.subarray(written));
      } else {
        // The output took these lines. Lines dropped while it did not are
        // reported now, unless a later line already did.
        if (this.queue.length === 0) this.noteDropped();
        this.writeQueued();
      }
    });
  }
}

/** Resolves once one of `waiters` is called (the writer pushes a waiter
 * and calls them all when its output has taken everything), or after
 * `timeoutMs`, whichever is first; the timer does not keep the process. */
export function whenCalled(waiters: (() => void)[], timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs).unref();
    waiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** What a summary says of the lines it stands for: with the prefix
 * `Chat server: `, the verb `refused` and the noun `connection`, it reads
 * `Chat server: refused 2,750 more connections in the last second ...`. */
export interface LogTopic {
  prefix: string;
  verb: string;
  noun: string;
}

/** Lines of one topic written whole in a second before the rest are counted. */
export const WHOLE_LINES_PER_SECOND = 10;

/** Lines of events that come in floods (connections accepted, refused),
 * logged without flooding: in each second, the first lines of each topic
 * are written whole; the rest are counted, and one line per topic sums them
 * up when the second is over. A client connecting thousands of times a
 * second costs a couple of dozen lines a second, and no event goes
 * uncounted: the whole lines and the summaries' counts add up to every
 * event. */
export class RateLimitedLog {
  /** When the current second began (performance.now(), in ms), or undefined. */
  private windowStart: number | undefined;
  /** This second's lines, by topic: how many written whole, and what was
   * counted instead. */
  private readonly tallies = new Map<LogTopic, { whole: number; counted: number; kinds: Map<string, number>; last: string }>();

  constructor(
    private readonly log: (line: string) => void,
    private readonly wholePerSecond = WHOLE_LINES_PER_SECOND,
  ) {}

  /** One line, `text` (starting with the topic's prefix), for `count` events
   * alike of which it tells the last; the summary groups them by `kind`,
   * if given. */
  line(topic: LogTopic, text: string, { kind, count = 1 }: { kind?: string; count?: number } = {}): void {
    this.due();
    this.windowStart ??= performance.now();
    let tally = this.tallies.get(topic);
    if (tally === undefined) {
      tally = { whole: 0, counted: 0, kinds: new Map(), last: '' };
      this.tallies.set(topic, tally);
    }
    let uncounted = count;
    if (tally.whole < this.wholePerSecond) {
      tally.whole += 1;
      this.log(text);
      uncounted -= 1;
      if (uncounted === 0) return;
    }
    tally.counted += uncounted;
    if (kind !== undefined) tally.kinds.set(kind, (tally.kinds.get(kind) ?? 0) + uncounted);
    tally.last = text;
  }

  /** Milliseconds until a summary is due; undefined when none is. */
  timeToSummary(): number | undefined {
    if (this.windowStart === undefined || ![...this.tallies.values()].some((tally) => tally.counted > 0)) return undefined;
    return Math.max(0, this.windowStart + 1000 - performance.now());
  }

  /** Writes the summaries of the second, if it is over. */
  due(): void {
    if (this.windowStart !== undefined && performance.now() - this.windowStart >= 1000) this.flush();
  }

  /** Writes the summaries of what was counted now, second over or not (at
   * shutdown, say), and starts afresh: the next lines are written whole. */
  flush(): void {
    for (const [{ prefix, verb, noun }, { counted, kinds, last }] of this.tallies) {
      if (counted === 0) continue;
      const byKind = kinds.size === 0 ? '' : ` (${[...kinds].map(([kind, n]) => `${n.toLocaleString('en-US')} ${kind}`).join(', ')})`;
      const lastEvent = last.startsWith(prefix) ? last.slice(prefix.length) : last;
      this.log(`${prefix}${verb} ${howMany(counted, `more ${noun}`)} in the last second${byKind}; the last: ${lastEvent}`);
    }
    this.tallies.clear();
    this.windowStart = undefined;
  }
}
