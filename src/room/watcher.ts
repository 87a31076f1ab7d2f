// What watches the loop: told of each select() by the room's reactor, and
// of what the loop takes, writes and closes by the room's sources, so that
// the recipe's own lines need say nothing of it. The rounds' recorder
// (src/view/trace.ts) is one; the reactor knows it only as this.

import type { Connection, Source } from '../recipe/select.js';

/** What is told of each round: what select() was given and answered, and
 * what the loop then did with its sources, as the sources see it. */
export interface RoundWatcher {
  /** select() starts: the round before it is over. */
  selecting(inputs: readonly Source[], outputs: readonly Connection[]): void;
  /** `heldMs`: how long of its time the hold kept it. */
  selected(readable: readonly Source[], writable: readonly Connection[], heldMs: number): void;
  /** The loop took from a source: a connection, a line, a message, an end; `what` says which. */
  took(source: Source, what: string): void;
  /** The loop wrote a frame to a connection. */
  wrote(connection: Connection): void;
  /** The loop closed a connection. */
  closed(connection: Connection): void;
  /** Something became of a source, as a layer saw it ('congested'). */
  noted(source: Source, what: string): void;
  /** The loop was told to stop. */
  interrupted(): void;
  /** The loop has left its last round. */
  done(): void;
}
