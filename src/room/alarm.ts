// The alarm that ends select()'s sleep at its deadline. A first read may
// skip this file: it is `setTimeout(wakeUp, deadline - now)`, made cheap.
//
// A server loop sleeps towards the same deadline round after round (its
// next look at the clients' deadlines, seconds away), so the timer is kept
// for the next sleep rather than made and cleared every round. It keeps the
// process alive only while select() sleeps on it. One that goes off early,
// for an earlier deadline, only makes select() look again and sleep on.

export class Alarm {
  private timer: NodeJS.Timeout | undefined;
  private ringsAt = Infinity;
  private ring: () => void = () => {};

  /** Calls `ring` at `deadline` (`performance.now()`, ms) or earlier. */
  ringAt(deadline: number, ring: () => void): void {
    this.ring = ring;
    // A timer is not more precise than a millisecond anyway.
    if (this.timer !== undefined && this.ringsAt <= deadline + 1) {
      this.timer.ref();
      return;
    }
    clearTimeout(this.timer);
    this.ringsAt = deadline;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.ring();
      },
      Math.max(0, deadline - performance.now()),
    );
  }

  /** select() woke: the timer may stay for the next sleep, but must not
   * keep the process alive meanwhile. */
  quiet(): void {
    this.timer?.unref();
  }
}
