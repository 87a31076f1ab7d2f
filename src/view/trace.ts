// Rounds of the select() loop, as records: what select() was given, what
// came back, what the loop did, how long it waited and worked, and (when
// someone wants it) the state the recipe keeps. One record per round, and
// every way of showing the loop reads the same records: `--trace` prints
// each as a line, `--record` writes each as a line of JSON, and the loop
// view (src/view/view.ts) streams them to a browser.
//
// A `--trace` line reads:
//
//   round 7: select(in: server stdin alice@127.0.0.1 bob@127.0.0.1; out: -) -> readable: alice@127.0.0.1 | alice@127.0.0.1: a message, sent to bob@127.0.0.1
//
// what select() was given (by name), what came back, and what the loop did
// with it. The loop itself says nothing of this: the room's sources tell
// the recorder what the loop took from each (a connection, a line, a
// message, an end) and what it then wrote and closed, and the recorder
// puts each take and what followed it into one action.

/** What the recipe keeps, as the loop left it after a round. */
export interface LoopState {
  inputs: string[];
  outputs: string[];
  clientmap: { name: string; address: string; shape: string }[];
  /** Bytes waiting per connection: received but not yet taken, and written but not yet sent. */
  connections: { name: string; inbox: number; outbox: number }[];
}

export interface Round {
  round: number;
  /** When select() was called (milliseconds since the epoch). */
  at: number;
  /** What select() was given, and how many: a room of thousands is shown by its first names. */
  inputs: string[];
  inputCount: number;
  outputs: string[];
  outputCount: number;
  readable: string[];
  readableCount: number;
  writable: string[];
  writableCount: number;
  /** What the loop did with it, in a few words each: the first
   * `ACTIONS_KEPT` of them, and how many there were in all (absent in
   * recordings older than the count: then all of them are here). */
  actions: string[];
  actionCount?: number;
  /** Milliseconds asleep in select() waiting for an event, held there by
   * the loop view (absent in recordings older than the hold's), then
   * working on what came back. */
  waitedMs: number;
  heldMs?: number;
  workedMs: number;
  state?: LoopState;
}

/** Names kept per list in a round; the count says how many there were. */
const NAMES_KEPT = 64;
/** Actions kept per round; `actionCount` says how many there were. A round
 * that accepts thousands at once would otherwise say so in thousands of
 * actions, in every line of `--trace`, every line of `--record` and every
 * round the view sends: this keeps each round's record a bounded size. */
export const ACTIONS_KEPT = 100;

/** One take and what the loop did after it, until the next take. */
interface Take {
  source: unknown;
  /** How the source was called when the loop took from it. */
  name: string;
  /** What was taken: 'a message', 'end of stream', 'accepted connection 3 from ...'. */
  what: string;
  /** Frames written back to the source, and to others (the first of them kept, to be named). */
  answered: number;
  sent: number;
  firstSentTo: unknown;
  /** Connections closed, the source among them or not. */
  closed: unknown[];
  /** What became of others meanwhile: 'bob@127.0.0.1 congested'. */
  notes: string[];
  stopping: boolean;
}

export class RoundRecorder {
  private round = 0;
  private current: Round | undefined;
  /** When select() was called and returned, on the monotonic clock: the
   * times a round records are not moved by a step of the wall clock. */
  private calledAt = 0;
  private returnedAt = 0;
  private readonly listeners: ((round: Round) => void)[] = [];
  /** Between select() returning and the round being done. */
  private working = false;
  /** Lines said meanwhile, written once the round has been shown. */
  private readonly held: (() => void)[] = [];
  /** The loop's last take this round, and what has followed it; undefined
   * before the first, and once it is past what a round keeps. */
  private take: Take | undefined;
  /** The loop was told to stop while select() waited: the round it answers says so. */
  private interruptPending = false;
  /** The last action kept this round, and how many takes in a row it stands for. */
  private lastAction: string | undefined;
  private repeats = 0;

  constructor(
    /** How a source is called: server, stdin, alice@127.0.0.1... */
    private readonly nameOf: (source: unknown) => string,
    /** The state after a round, for those who show it; called only then. */
    private readonly snapshot?: () => LoopState,
    private readonly wantsState = false,
  ) {}

  /** A line writer that keeps the order of events: a line said while a
   * round works (a log line about a connection the round accepted) waits
   * until the round itself has been shown, so that `--trace` and the log
   * read in the order things happened. Lines said while select() waits (a
   * signal) go out at once: they came before the round's answer. */
  inOrder(write: (line: string) => void): (line: string) => void {
    return (line) => this.afterShown(() => write(line));
  }

  /** Runs `show` now, or, while a round works, once the round itself has
   * been shown: what a round prints comes after the round's own line. */
  afterShown(show: () => void): void {
    if (this.working) this.held.push(show);
    else show();
  }

  /** Calls `listener` with every round, once it is done. */
  onRound(listener: (round: Round) => void): void {
    this.listeners.push(listener);
  }

  /** Before select(): the last round is done, and this is what select() is asked to watch. */
  selecting(inputs: readonly unknown[], outputs: readonly unknown[]): void {
    this.done();
    this.round += 1;
    this.calledAt = performance.now();
    this.current = {
      round: this.round,
      at: Date.now(),
      inputs: this.names(inputs),
      inputCount: inputs.length,
      outputs: this.names(outputs),
      outputCount: outputs.length,
      readable: [],
      readableCount: 0,
      writable: [],
      writableCount: 0,
      actions: [],
      actionCount: 0,
      waitedMs: 0,
      workedMs: 0,
    };
  }

  /** After select(): what came back (named now, before the round changes
   * names), and how long of its time the loop view held it. */
  selected(readable: readonly unknown[], writable: readonly unknown[], heldMs = 0): void {
    const round = this.current!;
    round.readable = this.names(readable);
    round.readableCount = readable.length;
    round.writable = this.names(writable);
    round.writableCount = writable.length;
    this.returnedAt = performance.now();
    round.heldMs = heldMs;
    round.waitedMs = Math.max(0, Math.round(this.returnedAt - this.calledAt) - heldMs);
    this.working = true;
    if (this.interruptPending) this.interrupted();
  }

  /** The loop took something from a source (none: the loop was told
   * something, not given it): an action begins. Past the
   * actions a round keeps, it is only counted, and nothing is named. */
  took(source: unknown, what: string): void {
    const round = this.current;
    if (!this.working || round === undefined) return;
    this.endTake();
    round.actionCount = (round.actionCount ?? 0) + 1;
    if (round.actions.length >= ACTIONS_KEPT) return;
    const name = source === undefined ? '' : this.nameOf(source);
    this.take = { source, name, what, answered: 0, sent: 0, firstSentTo: undefined, closed: [], notes: [], stopping: false };
  }

  /** The loop wrote a frame to a connection. */
  wrote(connection: unknown): void {
    const take = this.take;
    if (take === undefined) return;
    if (connection === take.source) take.answered += 1;
    else if (take.sent++ === 0) take.firstSentTo = connection;
  }

  /** The loop closed a connection. */
  closed(connection: unknown): void {
    this.take?.closed.push(connection);
  }

  /** Something became of a source meanwhile ('congested'). */
  noted(source: unknown, what: string): void {
    this.take?.notes.push(`${this.nameOf(source)} ${what}`);
  }

  /** The loop was told to stop: said with what it was doing, or on its own
   * in the round select() answers. */
  interrupted(): void {
    this.interruptPending = !this.working;
    if (!this.working) return;
    if (this.take !== undefined) this.take.stopping = true;
    else this.took(undefined, 'interrupted, stopping');
  }

  /** After the round: hands it to everyone listening. Nothing, if no round
   * is working (its end was already told). */
  done(): void {
    if (!this.working) return;
    this.endTake();
    this.lastAction = undefined;
    const round = this.current!;
    round.workedMs = Math.round(performance.now() - this.returnedAt);
    if (this.wantsState && this.snapshot) round.state = this.snapshot();
    for (const listener of this.listeners) listener(round);
    this.working = false;
    for (const write of this.held.splice(0)) write();
  }

  /** The take so far becomes an action, in a few words: the same words as
   * the action before count it again (`stdin: a line, sent to server ×3`). */
  private endTake(): void {
    const take = this.take;
    if (take === undefined) return;
    this.take = undefined;
    const action = this.describe(take);
    const round = this.current!;
    if (action === this.lastAction) {
      this.repeats += 1;
      round.actions[round.actions.length - 1] = `${action} ×${this.repeats}`;
      round.actionCount! -= 1;
      return;
    }
    this.lastAction = action;
    this.repeats = 1;
    round.actions.push(action);
  }

  private describe(take: Take): string {
    const parts = [take.source === undefined ? take.what : `${take.name}: ${take.what}`];
    if (take.answered > 0) parts.push(take.answered === 1 ? 'answered' : `answered (${take.answered} frames)`);
    const closedItself = take.closed.includes(take.source);
    // A connection that joined has a name now; one that left has lost it.
    if (!closedItself && take.source !== undefined) {
      const now = this.nameOf(take.source);
      if (now !== take.name) parts.push(`now ${now}`);
    }
    for (const connection of take.closed) parts.push(connection === take.source ? 'closed' : `closed ${this.nameOf(connection)}`);
    if (take.sent > 0) parts.push(`sent to ${take.sent === 1 ? this.nameOf(take.firstSentTo) : `${take.sent} others`}`);
    parts.push(...take.notes);
    if (take.stopping) parts.push('stopping');
    return parts.join(', ');
  }

  private names(sources: readonly unknown[]): string[] {
    return sources.slice(0, NAMES_KEPT).map(this.nameOf);
  }
}

/** What a round that did nothing says: select() timed out, to look at a
 * deadline, and nothing was due. */
export const NOTHING_DONE = '(timed out, nothing due)';

/** A round as one `--trace` line. */
export function formatRound(round: Round): string {
  const came = `readable: ${list(round.readable, round.readableCount)}${round.writableCount > 0 ? `, writable: ${list(round.writable, round.writableCount)}` : ''}`;
  const more = actionsLeftOut(round);
  const did = round.actions.length > 0 ? round.actions.join('; ') + (more > 0 ? `; and ${more} more` : '') : NOTHING_DONE;
  return `round ${round.round}: select(in: ${list(round.inputs, round.inputCount)}; out: ${list(round.outputs, round.outputCount)}) -> ${came} | ${did}`;
}

/** Names, the first eight of them: a room of thousands would make every line a page long. */
function list(names: readonly string[], count: number): string {
  if (count === 0) return '-';
  const shown = names.slice(0, 8);
  if (count > 8) shown.push(`and ${count - 8} more`);
  return shown.join(' ');
}

/** Actions of a round left out of its record. */
export function actionsLeftOut(round: Round): number {
  return (round.actionCount ?? round.actions.length) - round.actions.length;
}

/** A round with at most `ACTIONS_KEPT` actions, as a recording made before
 * the cap may hold more. */
export function keepActions(round: Round): Round {
  if (round.actions.length <= ACTIONS_KEPT) return round;
  return { ...round, actions: round.actions.slice(0, ACTIONS_KEPT), actionCount: round.actionCount ?? round.actions.length };
}
