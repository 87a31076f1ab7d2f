// The room's reactor: the core's select() (src/recipe/select.ts) with the
// layers a server open to anyone needs, plugged in where select() starts,
// wakes and answers. Read the core first; then this file, which says which
// layer does what and in which order; then each layer:
//
// - flow.ts: Node reads only from what select() watches, and only as much
//   as the loop can take (the core reads every socket as fast as it sends);
// - outbox.ts: a round's writes to a socket leave in one write (the core
//   writes each message on its own);
// - gather.ts: a storm of connections is accepted in one round (Node hands
//   over about one per turn of its loop);
// - alarm.ts: one timer for every sleep (the core makes one per sleep);
// - sources.ts: the listener, connection and console that these need.
//
// What holds the loop (the loop view's Pause and Step) and what watches it
// (the trace) come in through `ReactorOptions`; the reactor knows them only
// as the interfaces below. The watcher hears of each select() here, and of
// what the loop takes, writes and closes from the sources: the loop itself
// says nothing of it.

import type { Server, Socket } from 'node:net';
import type { Interface as ReadlineInterface } from 'node:readline';
import { type QueuedEvent, Reactor, type Source } from '../recipe/select.js';
import type { FrameDecoder } from '../wire/wire.js';
import { Alarm } from './alarm.js';
import { Flow, type FlowOptions } from './flow.js';
import { Gathering } from './gather.js';
import { GATHER_BYTES, Outboxes } from './outbox.js';
import { RoomConnection, RoomConsole, RoomListener, type ListenerOptions } from './sources.js';
import type { RoundWatcher } from './watcher.js';

/** One turn of Node's event loop, in which it runs pending I/O callbacks. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface ReactorOptions extends FlowOptions {
  /** Makes the inbox of each accepted or connected socket. */
  makeInbox: () => FrameDecoder;
  /** The most a busy round's outbox gathers before it leaves, in bytes
   * (outbox.ts; at most its GATHER_BYTES). */
  gatherBytes?: number;
  /** What may hold the loop in select(): the loop view's Pause/Step (src/view/hold.ts). */
  hold?: Hold;
  /** What is told of every round: the rounds' recorder (src/view/trace.ts). */
  watcher?: RoundWatcher;
}

/** What holds the loop, asked where select() waits. */
export interface Hold {
  /** No round may run unless a Step lets it. */
  readonly isHeld: boolean;
  /** Milliseconds the current (or last) select() spent held. */
  readonly heldMs: number;
  /** As select() starts, once the last round's output has gone: resolves when a round may run. */
  enter(): Promise<void>;
  /** Each time select() wakes, before it looks at what arrived: a loop held while asleep serves nothing. */
  pass(): Promise<void>;
  /** select() returns: the round is the loop's until its next select(). */
  leaveSelect(): void;
  /** The loop is stopping: nothing holds it any more. */
  release(): void;
}

export class RoomReactor extends Reactor {
  /** Which sockets Node reads, and how much input is kept (flow.ts). */
  readonly flow: Flow;
  /** What the loop has written and not yet handed to Node (outbox.ts). */
  readonly outboxes: Outboxes;
  /** Who hears what each round did, if anyone. */
  readonly watcher: RoundWatcher | undefined;

  constructor(options: ReactorOptions) {
    const flow = new Flow(options);
    const outboxes = new Outboxes(Math.min(options.gatherBytes ?? GATHER_BYTES, GATHER_BYTES));
    const gathering = new Gathering(nextTurn);
    const { hold, watcher } = options;
    super({
      makeInbox: options.makeInbox,
      alarm: new Alarm(),
      queued(event: QueuedEvent) {
        if (event.kind === 'connection') gathering.arrived();
        else if (event.kind === 'data') flow.charge(event.source as RoomConnection, event.bytes);
      },
      applied(event: QueuedEvent) {
        if (event.kind === 'data') flow.inboxed(event.source as RoomConnection, event.bytes);
      },
      async prepare(inputs, outputs) {
        watcher?.selecting(inputs, outputs);
        // The last round is over: its writes leave now, one write per socket.
        // If input is already waiting, outbox.ts may keep these writes a few
        // rounds and send them with those rounds' writes, but never past a
        // sleep or a Pause.
        const moreReady = inputs.some((source) => source.readable) && !hold?.isHeld;
        outboxes.roundOver(moreReady);
        // Held by the loop view's Pause, the loop waits here; Node's callbacks go on filling the queue.
        if (hold) await hold.enter();
        // Node reads from the connections watched now, and from no other.
        flow.watch(inputs);
      },
      async check() {
        // While connections keep arriving, wait a few more turns so that one
        // round accepts them all (gather.ts).
        if (gathering.due) await gathering.gather();
        // If Pause was pressed while select() slept, wait here: the event that
        // woke it stays queued and no round starts, unless Step allows one.
        if (hold) await hold.pass();
      },
      // Every read has stopped: only the loop can free input, by taking it or cutting someone off.
      mustAnswer: () => flow.overBudget,
      answered(readable, writable) {
        // flow.ts measures their inboxes against the budget at the next select().
        flow.reported(readable);
        hold?.leaveSelect();
        watcher?.selected(readable, writable, hold?.heldMs ?? 0);
      },
      interrupted() {
        watcher?.interrupted();
        hold?.release();
      },
    });
    this.flow = flow;
    this.outboxes = outboxes;
    this.watcher = watcher;
  }

  /** The loop has ended: the round it was in is over. (Every other round
   * ends where the next select() starts.) */
  loopEnded(): void {
    this.watcher?.done();
  }

  /** Watches a listening server: readable when a connection waits. */
  listen(server: Server, options: ListenerOptions = {}): RoomListener {
    return new RoomListener(this, server, options);
  }

  /** Watches a socket a listener accepted or this program connected. */
  connection(socket: Socket): RoomConnection {
    const connection = new RoomConnection(this, socket);
    this.flow.adopt(connection);
    return connection;
  }

  /** Watches a console: readable when a line waits, and for good at its end. */
  console(lines: ReadlineInterface): RoomConsole {
    const stdin = new RoomConsole(this, lines);
    this.flow.addConsole(stdin);
    return stdin;
  }

  /** A connection closed: nothing more is written to it or read from it. */
  forget(connection: RoomConnection): void {
    this.flow.forget(connection);
  }

  /** The queue for the next select(), by kind and source (for whoever shows it). */
  queued(): QueuedEvents[] {
    const bySource = new Map<Source, Map<string, QueuedEvents>>();
    for (const { kind, source, bytes } of this.queue) {
      const byKind = bySource.get(source) ?? new Map<string, QueuedEvents>();
      bySource.set(source, byKind);
      const entry = byKind.get(kind) ?? { kind, source, count: 0, bytes: 0 };
      byKind.set(kind, entry);
      entry.count += 1;
      entry.bytes += bytes;
    }
    return [...bySource.values()].flatMap((byKind) => [...byKind.values()]);
  }
}

/** Events of one kind from one source, waiting in the queue. */
export type QueuedEvents = { kind: string; source: Source; count: number; bytes: number };
