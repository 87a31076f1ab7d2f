// A hand-written reactor: a loop that waits until some of its sources are
// ready, then handles them. Node's socket events are gathered here so that a
// plain `while (running) { await select(inputs, outputs) }` loop can consume
// them, as the original consumes `select.select(inputs, outputs, [])`.
//
// Node has no select(). It runs its own loop (libuv, over epoll) and calls a
// function for each event. Here those functions do one thing only: push the
// event into one queue. `select()` then plays the kernel's part: it applies
// the queued events to the sources (bytes into a socket's inbox, which is
// what the socket received that the loop has not taken yet; a new connection
// into the listener's backlog; a line into the console), answers which of
// the sources it was asked about are ready, and when none is, it sleeps until
// an event arrives. The program's own logic runs in its loop, never in a
// callback. A round is one select() plus the loop's work on its answer.
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

/** One turn of Node's event loop, in which it runs pending I/O callbacks. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

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
  /** The loop view's Pause/Step (src/hold.ts), if any. */
  private readonly hold: Hold | undefined;
  /** A parameter because the reactor knows nothing of the wire format: the inbox decides what is whole. */
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
   * connection whose inbox has at least one complete item (the inbox
   * decides what is complete; see sources.ts), whose peer has hung up, or
   * which failed; a console with a line or at end of input. Writable: a
   * connection that had output waiting in Node and has since drained it, or
   * that failed. Unlike the kernel's select(), an idle socket is not
   * writable: only a drain, once, makes it so (the recipe's defect 1,
   * docs/ERRATA.md, fixed). A select() with nothing ready sleeps until an
   * event comes, `timeoutMs` passes (then all lists are empty), or
   * `interrupt()` is called. It also returns, lists empty, when the input
   * budget (the input kept in memory for all connections; flow.ts) is spent
   * and every read has stopped: only the loop can free input, by taking it
   * or by cutting someone off. */
  async select<TInput extends Source, TOutput extends Connection<TInbox>>(
    inputs: readonly TInput[],
    outputs: readonly TOutput[],
    timeoutMs?: number,
  ): Promise<SelectResult<TInput, TOutput>> {
    // The last round is over: its writes leave now, one write per socket. If
    // input is already waiting, outbox.ts may keep these writes a few rounds
    // and send them with those rounds' writes, but never past a sleep or a Pause.
    const moreReady = inputs.some((source) => source.readable) && !this.hold?.isHeld;
    this.outboxes.roundOver(moreReady);
    // Held by the loop view's Pause, the loop waits here; Node's callbacks go on filling the queue.
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
      // Like select(), a failed socket counts as writable: the next write would tell.
      const writable = outputs.filter((connection) => connection.drained || connection.error !== undefined);
      // Done: select() has its answer, an empty one if nothing is ready.
      const done = readable.length > 0 || writable.length > 0 || this.interrupted || this.flow.overBudget || performance.now() >= deadline;
      if (done && nodeHadATurn) {
        this.interrupted = false;
        for (const connection of writable) connection.drained = false;
        // flow.ts measures their inboxes against the budget at the next select().
        this.flow.reported(readable);
        this.hold?.leaveSelect(); // tells the loop view that select() is over
        return [readable, writable, []];
      }
      if (done) {
        // Something is ready already. Still let Node run the callbacks of
        // pending I/O first, as select() looks at every descriptor: else a
        // busy loop would never let Node read other sockets or deliver a signal.
        await nextTurn();
      } else {
        // Nothing is ready: sleep, as select() sleeps in the kernel, until an event or the deadline.
        await this.sleep(deadline);
      }
      nodeHadATurn = true;
      // While connections keep arriving, wait a few more turns so that one
      // round accepts them all (gather.ts).
      await this.gathering.gather();
      // If Pause was pressed while select() slept, wait here: the event that
      // woke it stays queued and no round starts, unless Step allows one.
      await this.hold?.pass();
    }
  }

  /** Makes the current (or next) select() return without waiting for readiness (with whatever
   * is ready by then): the port's stand-in for the recipe's `except select.error: break`. */
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
      // The first event ends the sleep, but the program's loop resumes only after the rest of
      // this turn of Node's event loop, so that events that arrived together share one round.
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

  /** Watches a listening server: readable when a connection waits. */
  listen(server: Server, options: ListenerOptions = {}): Listener<TInbox> {
    return new Listener(this, server, options);
  }

  /** Watches a socket a listener accepted or this program connected. */
  connection(socket: Socket): Connection<TInbox> {
    return new Connection(this, socket, this.nextConnectionId++);
  }

  /** Watches a console: readable when a line waits, and for good at its end. */
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

  /** The queue for the next select(), by kind and source (for the loop view). */
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

export interface ReactorOptions<TInbox extends Inbox> extends FlowOptions {
  /** Makes the inbox of each accepted or connected socket. */
  makeInbox: () => TInbox;
  /** What may hold the loop in select(): the loop view's Pause/Step (src/hold.ts). */
  hold?: Hold;
}

/** What holds the loop, asked where select() waits. */
export interface Hold {
  /** No round may run unless a Step lets it. */
  readonly isHeld: boolean;
  /** As select() starts, once the last round's output has gone: resolves when a round may run. */
  enter(): Promise<void>;
  /** Each time select() wakes, before it looks at what arrived: a loop held while asleep serves nothing. */
  pass(): Promise<void>;
  /** select() returns: the round is the loop's until its next select(). */
  leaveSelect(): void;
}

/** What Node's callbacks push: one kind per callback. */
type ReactorEvent =
  | { kind: 'connection'; listener: Listener<Inbox>; connection: Connection<Inbox> }
  | { kind: 'refused'; listener: Listener<Inbox>; remoteAddress: string } // a newcomer the listener closed at once: it has as many sockets open as it may
  | { kind: 'data'; connection: Connection<Inbox>; chunk: Buffer }
  | { kind: 'end'; connection: Connection<Inbox> }
  | { kind: 'error'; connection: Connection<Inbox>; error: Error }
  | { kind: 'drain'; connection: Connection<Inbox> }
  | { kind: 'line'; console: Console; line: string }
  | { kind: 'console-end'; console: Console };

/** Events of one kind from one source, waiting in the queue. */
export type QueuedEvents = { kind: ReactorEvent['kind']; source: Source; count: number; bytes: number };

export type SelectResult<TInput, TOutput> = [readable: TInput[], writable: TOutput[], exceptional: never[]];
