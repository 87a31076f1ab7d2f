// Holding the loop: the loop view's Pause, Step and Resume.
//
// The hold lives where the loop waits: in select(). The reactor asks the
// hold for leave at the start of every select() (`enter`), and again every
// time a select() that was asleep wakes up, before it looks at what arrived
// (`pass`). So a Pause clicked while the loop sleeps in select() holds the
// round the next event would have started: that event waits in the
// reactor's queue with everything after it, and nothing is served.
//
// A round is one select() and the work on what it returns. Step lets
// exactly one round run: the select() waiting in the hold goes on, and if
// nothing has arrived yet it sleeps until something does, serves that, and
// the next select() is held again. Two Steps are two rounds. Resume lets
// every round run.

/** What the loop may do now, as the page shows it. */
export interface HoldStatus {
  /** 'running': not held. 'held': no round can run until Step or Resume.
   * 'stepping': held, but `rounds` more rounds may run first (the one in
   * select() now, waiting for an event, counts). */
  state: 'running' | 'held' | 'stepping';
  rounds: number;
}

/** What the current select() was let through as. */
type Leave = 'free' | 'stepped' | 'waiting';

export class LoopHold {
  private held = false;
  /** Steps asked for and not yet begun. */
  private steps = 0;
  private released = false;
  /** How the current select() got its leave; undefined between rounds. */
  private leave: Leave | undefined;
  private waiting: (() => void) | undefined;
  private heldSince = 0;
  private heldInRound = 0;
  private readonly listeners: ((status: HoldStatus) => void)[] = [];

  get isHeld(): boolean {
    return this.held && !this.released;
  }

  get status(): HoldStatus {
    if (!this.isHeld) return { state: 'running', rounds: 0 };
    const rounds = this.steps + (this.leave === 'stepped' ? 1 : 0);
    return { state: rounds > 0 ? 'stepping' : 'held', rounds };
  }

  /** The loop is waiting here now, in select(). */
  get holdsLoop(): boolean {
    return this.waiting !== undefined;
  }

  /** Milliseconds the current (or last) select() spent held. */
  get heldMs(): number {
    return this.heldInRound;
  }

  /** Calls `listener` whenever the status may have changed. */
  onChange(listener: (status: HoldStatus) => void): void {
    this.listeners.push(listener);
  }

  /** select() calls this as it starts: resolves once a round may run. */
  enter(): Promise<void> {
    this.leave = undefined;
    this.heldInRound = 0;
    return this.pass();
  }

  /** select() calls this after each wait, before it looks at what arrived:
   * a loop held while it slept waits here, unless a Step let it in. */
  pass(): Promise<void> {
    if (!this.isHeld) {
      this.leave ??= 'free';
      return Promise.resolve();
    }
    if (this.leave === 'stepped') return Promise.resolve();
    if (this.steps > 0) {
      this.steps -= 1;
      this.grant('stepped');
      return Promise.resolve();
    }
    this.leave = 'waiting';
    this.heldSince = performance.now();
    this.changed();
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** select() returns: the round is the loop's until its next select(). */
  leaveSelect(): void {
    if (this.leave === 'stepped') {
      this.leave = undefined;
      this.changed();
    }
    this.leave = undefined;
  }

  /** No round begins until Step or Resume; the one in select() now, if it
   * is asleep, is held as soon as something wakes it. */
  pause(): void {
    if (this.released) return;
    this.held = true;
    this.steps = 0;
    this.changed();
  }

  /** Exactly one more round runs, then the loop is held again. */
  step(): void {
    if (!this.isHeld) return;
    if (this.waiting) this.grant('stepped');
    else this.steps += 1;
    this.changed();
  }

  resume(): void {
    this.held = false;
    this.steps = 0;
    if (this.waiting) this.grant('free');
    this.changed();
  }

  /** The server is shutting down: nothing holds it any more. */
  release(): void {
    this.released = true;
    if (this.waiting) this.grant('free');
    this.changed();
  }

  private grant(leave: Leave): void {
    this.leave = leave;
    const waiting = this.waiting;
    if (waiting === undefined) return;
    this.waiting = undefined;
    this.heldInRound += Math.round(performance.now() - this.heldSince);
    waiting();
  }

  private changed(): void {
    const status = this.status;
    for (const listener of this.listeners) listener(status);
  }
}
