// Holding the loop: the loop view's Pause, Step and Resume.
//
// The reactor awaits `pass()` at the start of every select(), once the
// last round's output has gone. Free, it passes at once. Held, it waits there, while Node's callbacks go
// on filling the reactor's queue (bytes arriving, connections waiting):
// nothing is lost and nothing is served until the loop runs again. Step
// lets exactly one round through; Resume lets them all.

export class LoopHold {
  private held = false;
  private steps = 0;
  private released = false;
  private waiting: (() => void) | undefined;

  get isHeld(): boolean {
    return this.held && !this.released;
  }

  /** The loop calls this before each round. */
  pass(): Promise<void> {
    if (!this.isHeld) return Promise.resolve();
    if (this.steps > 0) {
      this.steps -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** The loop stops before its next select(). */
  pause(): void {
    this.held = true;
    this.steps = 0;
  }

  /** Exactly one more round runs, then the loop is held again. */
  step(): void {
    if (!this.isHeld) return;
    if (this.waiting) this.letThrough();
    else this.steps += 1;
  }

  resume(): void {
    this.held = false;
    this.steps = 0;
    this.letThrough();
  }

  /** The server is shutting down: nothing holds it any more. */
  release(): void {
    this.released = true;
    this.letThrough();
  }

  private letThrough(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }
}
