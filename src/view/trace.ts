// Rounds of the select() loop, as records: what select() was given, what
// came back, what the loop did, how long it waited and worked, and (when
// someone wants it) the state the recipe keeps. One record per round, and
// every way of showing the loop reads the same records: `--trace` prints
// each as a line, `--record` writes each as a line of JSON, and the loop
// view (src/view/view.ts) streams them to a browser.
//
// A `--trace` line reads:
//
//   round 7: select(in: server stdin alice@127.0.0.1 bob@127.0.0.1; out: -) -> readable: alice@127.0.0.1 | alice@127.0.0.1: a line, sent to 1
//
// what select() was given (by name), what came back, and what the round did.

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

  /** Before select(): what it is asked to watch. */
  selecting(inputs: readonly unknown[], outputs: readonly unknown[]): void {
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
  }

  /** What the round did, in a few words. */
  did(action: string): void {
    const round = this.current;
    if (round === undefined) return;
    round.actionCount = (round.actionCount ?? 0) + 1;
    if (round.actions.length < ACTIONS_KEPT) round.actions.push(action);
  }

  /** After the round: hands it to everyone listening. Nothing, if no round
   * is working (its end was already told). */
  done(): void {
    if (!this.working) return;
    const round = this.current!;
    round.workedMs = Math.round(performance.now() - this.returnedAt);
    if (this.wantsState && this.snapshot) round.state = this.snapshot();
    for (const listener of this.listeners) listener(round);
    this.working = false;
    for (const write of this.held.splice(0)) write();
  }

  private names(sources: readonly unknown[]): string[] {
    return sources.slice(0, NAMES_KEPT).map(this.nameOf);
  }
}

/** A round as one `--trace` line. */
export function formatRound(round: Round): string {
  const came = `readable: ${list(round.readable, round.readableCount)}${round.writableCount > 0 ? `, writable: ${list(round.writable, round.writableCount)}` : ''}`;
  const more = actionsLeftOut(round);
  const did = round.actions.length > 0 ? round.actions.join('; ') + (more > 0 ? `; and ${more} more` : '') : '(interrupted or timed out)';
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
