// Gathering connections: Node hands the program about one new connection
// per turn of its loop, where a select() loop would accept() the whole
// backlog in one round. A first read may skip this file: without it,
// select() would work the same, and a storm of joins would be served one
// join a round.

/** At most this many extra turns of Node's loop gather new connections. */
const MAX_GATHER_TURNS = 128;

export class Gathering {
  private arrivals = 0;
  private gathered = 0;

  /** `nextTurn` resolves after one turn of Node's loop. */
  constructor(private readonly nextTurn: () => Promise<void>) {}

  get due(): boolean {
    return this.arrivals !== this.gathered;
  }

  /** A connection arrived (in Node's callback). */
  arrived(): void {
    this.arrivals += 1;
  }

  /** Called by select() after each turn of Node's loop. While connections
   * keep coming, a few more turns are taken to gather them, and the round
   * that follows handles them (and their handshakes) together. (A turn
   * started from a callback may end before Node polls again, so gathering
   * stops only after two turns in a row bring nothing.) */
  async gather(): Promise<void> {
    if (this.arrivals === this.gathered) return;
    let quietTurns = 0;
    for (let turns = 0; turns < MAX_GATHER_TURNS && quietTurns < 2; turns++) {
      const seen = this.arrivals;
      await this.nextTurn();
      quietTurns = this.arrivals === seen ? quietTurns + 1 : 0;
    }
    this.gathered = this.arrivals;
  }
}
