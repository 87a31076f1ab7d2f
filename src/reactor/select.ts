// A hand-written reactor: Node's socket events, gathered so that a plain
// `while (running) { await select(inputs, outputs) }` loop can consume them,
// as the original consumes `select.select(inputs, outputs, [])`.
//
// Node has no select(). It runs its own loop (libuv, over epoll) and calls a
// function for each event. Here those functions do one thing only: push the
// event into one queue. `select()` then plays the kernel's part: it applies
// the queued events to the sources (bytes into a socket's inbox, a new
// connection into the listener's backlog, a line into the console), answers
// which of the sources it was asked about are ready, and when none is, it
// sleeps until an event arrives. The program's own logic runs in its loop,
// never in a callback.
//
// This file is the core, and a first read may stop at its end. The sources
// select() watches are in sources.ts. The rest is what a real server adds,
// a file each: flow.ts (Node reads only what the loop can take), outbox.ts
// (a round's writes leave in one write per socket), gather.ts (a storm of
// connections is taken in one round), alarm.ts (one timer for every sleep).

import type { Server, Socket } from 'node:net';
import type { Interface as ReadlineInterface } from 'node:readline';
import { Alarm } from './alarm.js';
import { Flow, type FlowOptions } from './flow.js';
import { Gathering } from './gather.js';
import { Outboxes } from './outbox.js';
import { Connection, Console, type Inbox, Listener, type ListenerOptions, type Source } from './sources.js';

export class Reactor<TInbox extends Inbox = Inbox> {
  /** The one queue: Node's callbacks push events here, and do nothing else. */
  private readonly events: ReactorEvent[] = [];
  /** Set while select() sleeps: the next event calls it. */
  private wakeUp: (() => void) | undefined;
  private interrupted = false;
  private nextConnectionId = 1;
  /** Which sockets Node reads, and how much input is kept (flow.ts). */
  readonly flow: Flow<TInbox>;
  /** What the loop has written and not yet handed to Node (outbox.ts). */
  readonly outboxes = new Outboxes();
  private readonly gathering = new Gathering(nextTurn);
  private readonly alarm = new Alarm(() => this.wakeUp?.());
  private readonly hold: Hold | undefined;
  readonly makeInbox: () => TInbox;

  constructor(options: ReactorOptions<TInbox>) {
    this.makeInbox = options.makeInbox;
    this.hold = options.hold;
    this.flow = new Flow(options);
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
   * or by cutting someone off (see `Flow.inputBytes`). */
  async select<TInput extends Source, TOutput extends Connection<TInbox>>(
    inputs: readonly TInput[],
    outputs: readonly TOutput[],
    timeoutMs?: number,
  ): Promise<SelectResult<TInput, TOutput>> {
    // The last round is over: what it wrote leaves now, one write per socket.
    // (While more is ready to take at once, outbox.ts may keep it a few
    // rounds more, to leave with theirs; never while the loop sleeps or is held.)
    const moreReady = inputs.some((source) => source.readable) && !this.hold?.isHeld;
    this.outboxes.roundOver(moreReady);
    // Held by the loop view's Pause (src/hold.ts), the loop waits here;
    // Node's callbacks go on filling the queue.
    await this.hold?.enter();
    // Node reads from the connections watched now, and from no other.
    this.flow.watch(inputs);
    // On the monotonic clock, as Node's timers are: a step of the wall clock
    // must not end the wait early or make it an hour long.
    const deadline = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    // select() returns only after Node has had at least one turn (below).
    let nodeHadATurn = false;
    for (;;) {
      this.applyEvents();
      const readable = inputs.filter((source) => source.readable);
      // Like select(), a socket that failed counts as writable: the next
      // write would tell, so the loop should look at it.
      const writable = outputs.filter((connection) => connection.drained || connection.error !== undefined);
      const ready = readable.length > 0 || writable.length > 0;
      // Done: select() has its answer, an empty one if nothing is ready.
      const done = ready || this.interrupted || this.flow.overBudget || performance.now() >= deadline;
      if (done && nodeHadATurn) {
        this.interrupted = false;
        for (const connection of writable) connection.drained = false;
        this.flow.reported(readable); // their inboxes are counted again next time
        this.hold?.leaveSelect(); // the round is the loop's now
        return [readable, writable, []];
      }
      if (done) {
        // Something is ready already. Still let Node run the callbacks of
        // whatever I/O is pending first, as select() looks at every
        // descriptor even when one is ready: without this a busy loop would
        // never let Node read the other sockets or deliver a signal.
        await nextTurn();
      } else {
        // Nothing is ready: the process sleeps here, as select() sleeps in
        // the kernel, until an event or the deadline wakes it.
        await this.sleep(deadline);
      }
      nodeHadATurn = true;
      // Connections that keep coming are taken together, over a few more turns.
      await this.gathering.gather();
      // Held while select() slept: what woke it waits in the queue, and
      // the round it would start is held, unless a Step let this one run.
      await this.hold?.pass();
    }
  }

  /** Ends the current or next select() at once with nothing ready, as a
   * signal interrupts select() in Python. */
  interrupt(): void {
    this.interrupted = true;
    this.wakeUp?.();
  }

  /** Called by the sources from Node's callbacks; nothing else happens there. */
  push(event: ReactorEvent): void {
    this.events.push(event);
    if (event.kind === 'connection') this.gathering.arrived();
    this.wakeUp?.();
  }

  /** Called from a socket's 'data' callback with each chunk Node read. */
  pushData(connection: Connection<TInbox>, chunk: Buffer): void {
    if (connection.closed) return;
    this.push({ kind: 'data', connection, chunk });
    this.flow.arrived(connection, chunk);
  }

  private sleep(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      // The first event ends the sleep, but the loop runs after the rest of
      // this turn of Node's loop, so that events that arrived together are
      // handled in one round.
      this.wakeUp = () => {
        this.wakeUp = undefined;
        this.alarm.quiet();
        setImmediate(resolve);
      };
      if (deadline !== Infinity) this.alarm.ringAt(deadline);
    });
  }

  /** Each queued event, in the order it came, reaches its source. */
  private applyEvents(): void {
    for (const event of this.events.splice(0)) {
      // biome-ignore format: one event a line
      switch (event.kind) {
        case 'connection': event.listener.backlog.push(event.connection); break;
        case 'refused': event.listener.refused += 1; event.listener.lastRefused = event.remoteAddress; break;
        case 'data': event.connection.receive(event.chunk); break;
        case 'end': event.connection.ended = true; break;
        case 'error': event.connection.error ??= event.error; break;
        case 'drain': event.connection.drained = true; break;
        case 'line': event.console.lines.push(event.line); break;
        case 'console-end': event.console.ended = true; break;
      }
    }
  }

  /** Watches a listening server: it becomes readable when a connection
   * waits to be accepted. */
  listen(server: Server, options: ListenerOptions = {}): Listener<TInbox> {
    return new Listener(this, server, options);
  }

  /** Watches a connected socket: one a listener accepted, or one this
   * program connected itself. */
  connection(socket: Socket): Connection<TInbox> {
    return new Connection(this, socket, this.nextConnectionId++);
  }

  /** Watches lines typed on a console: readable when a line waits, and for
   * good once input has ended (as stdin is at end of file). */
  console(lines: ReadlineInterface): Console {
    const console = new Console(this, lines);
    this.flow.addConsole(console);
    return console;
  }

  /** A connection closed: nothing more is written to it or read from it. */
  forget(connection: Connection<TInbox>): void {
    this.outboxes.forget(connection);
    this.flow.forget(connection);
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
}

/** One turn of Node's loop: the callbacks of pending I/O run first. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface ReactorOptions<TInbox extends Inbox> extends FlowOptions {
  /** Makes the inbox of each accepted or connected socket. */
  makeInbox: () => TInbox;
  /** Something that may hold the loop in select() (the loop view's Pause
   * and Step, src/hold.ts). */
  hold?: Hold;
}

/** What holds the loop, asked where select() waits: as it starts (once the
 * last round's output has gone), and each time it wakes, before it looks at
 * what arrived, so that a loop held while asleep serves nothing. */
export interface Hold {
  /** No round may run unless a Step lets it. */
  readonly isHeld: boolean;
  enter(): Promise<void>;
  pass(): Promise<void>;
  leaveSelect(): void;
}

/** What Node's callbacks push: one kind per callback. */
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
export type QueuedEvents = { kind: ReactorEvent['kind']; source: Source; count: number; bytes: number };

export type SelectResult<TInput, TOutput> = [readable: TInput[], writable: TOutput[], exceptional: never[]];
