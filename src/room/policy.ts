// The server's limits, in one place: what a client may make the server
// spend, and what happens to a client past a limit. The recipe has none of
// this; `ChatServer.run` calls in here at the few points where the recipe's
// loop would have let a client hold it or its memory (see
// docs/RELIABILITY.md for every limit and the attack it answers).
//
// The policy decides, the loop acts: `due()` names the clients to drop and
// why, and the loop drops them as it drops any other, telling the room.
//
// Every time here comes from `performance.now()`, a monotonic clock, never
// from the wall clock (`Date.now()`): when NTP or an operator steps the wall
// clock an hour ahead, every deadline would pass at once; an hour back, none
// would pass for an hour.

import type { Flow } from './flow.js';
import type { RoomConnection } from './sources.js';
import type { RoundWatcher } from './watcher.js';

export interface Limits {
  /** A connection that has not completed its handshake this long after the
   * server began reading it is dropped. */
  handshakeTimeoutMs: number;
  /** A frame must be finished this long after its first byte arrived
   * (counted only while the server reads the connection). */
  frameTimeoutMs: number;
  /** Bytes of input the server keeps at once for all connections together. */
  inputBudget: number;
  /** Soft limit: a client with this much output waiting is congested, and
   * the server stops reading everyone else until it drains. */
  outputSoftLimit: number;
  /** Hard limit: a client with this much output waiting is dropped at once. */
  outputHardLimit: number;
  /** A congested client that takes none of its output for this long is dropped. */
  slowClientGraceMs: number;
}

/** A client to let go: with the reason for the log, or, for a connection
 * that broke, none (it is a hang-up). `discardOutput` when what waits for it
 * is not worth sending. */
export interface Verdict<TClient> {
  client: TClient;
  reason: string | undefined;
  discardOutput: boolean;
}

/** How a congested client is doing: the least output it has had waiting
 * since it became congested, and when that least was last lowered. */
interface Congestion {
  lowestPending: number;
  progressAt: number;
}

export class ServerPolicy<TClient extends RoomConnection> {
  /** Accepted connections still in the handshake, and when each was accepted. */
  private readonly handshakes = new Map<TClient, number>();
  /** Clients with more output waiting than the soft limit. */
  private readonly congested = new Map<TClient, Congestion>();
  /** When the handshake and frame deadlines must next be looked at. */
  private nextLookAt = Infinity;

  constructor(
    readonly limits: Limits,
    private readonly flow: Flow,
    /** Hears of each client let go, and of each that becomes congested. */
    private readonly watcher?: RoundWatcher,
  ) {}

  /** While a client is congested, the loop reads from no one and accepts
   * no one, since any line, join or departure would add to the output that
   * client cannot drain. */
  get anyCongested(): boolean {
    return this.congested.size > 0;
  }

  /** The congested clients: select()'s outputs, so that the loop wakes when
   * one of them drains or breaks. */
  get congestedClients(): TClient[] {
    return [...this.congested.keys()];
  }

  /** A connection was accepted: its handshake clock starts. */
  admit(client: TClient): void {
    const now = performance.now();
    this.handshakes.set(client, now);
    this.nextLookAt = Math.min(this.nextLookAt, now + this.limits.handshakeTimeoutMs);
  }

  /** The connection has sent its name; from now on its frames have a deadline. */
  named(client: TClient): void {
    this.handshakes.delete(client);
    this.nextLookAt = Math.min(this.nextLookAt, performance.now() + this.limits.frameTimeoutMs);
  }

  /** The loop let the connection go. */
  forget(client: TClient): void {
    this.handshakes.delete(client);
    this.congested.delete(client);
  }

  /** Called after writing to a client: is it congested now? */
  wrote(client: TClient): boolean {
    if (client.pendingOutputBytes < this.limits.outputSoftLimit || this.congested.has(client)) return false;
    this.congested.set(client, { lowestPending: client.pendingOutputBytes, progressAt: performance.now() });
    this.watcher?.noted(client, 'congested');
    return true;
  }

  /** Everyone to drop at the end of a round, and why, one at a time: the
   * watcher hears of each before the loop lets it go. `named` are the
   * clients past their handshake. */
  *due(named: Iterable<TClient>): Generator<Verdict<TClient>> {
    const verdicts: Verdict<TClient>[] = [];
    const now = performance.now();
    for (const client of this.congested.keys()) this.checkCongestion(client, now, verdicts);
    if (now >= this.nextLookAt) this.checkDeadlines(named, now, verdicts);
    this.checkInputBudget(named, verdicts);
    for (const verdict of verdicts) {
      this.watcher?.took(verdict.client, `let go: ${verdict.reason ?? 'the connection broke'}`);
      yield verdict;
    }
  }

  /** How long select() may sleep before a deadline needs looking at. */
  timeToNextDeadline(): number | undefined {
    let next = this.nextLookAt;
    for (const { progressAt } of this.congested.values()) next = Math.min(next, progressAt + this.limits.slowClientGraceMs);
    return next === Infinity ? undefined : Math.max(0, next - performance.now());
  }

  /** The slow-consumer policy for one congested client: over the hard
   * limit it is dropped; taking none of its output for the grace period it
   * is dropped; under the soft limit it is congested no more. */
  private checkCongestion(client: TClient, now: number, verdicts: Verdict<TClient>[]): void {
    const congestion = this.congested.get(client)!;
    const pending = client.pendingOutputBytes;
    const { outputSoftLimit, outputHardLimit, slowClientGraceMs } = this.limits;
    if (client.error !== undefined) {
      verdicts.push({ client, reason: undefined, discardOutput: true });
    } else if (pending < outputSoftLimit) {
      this.congested.delete(client);
    } else if (pending > outputHardLimit) {
      verdicts.push({ client, reason: `${pending} bytes of output waiting, over the hard limit of ${outputHardLimit}`, discardOutput: true });
    } else if (pending < congestion.lowestPending) {
      congestion.lowestPending = pending;
      congestion.progressAt = now;
    } else if (now - congestion.progressAt >= slowClientGraceMs) {
      // What is measured is the output waiting, not what the peer read:
      // Node counts a write as gone only once the kernel has taken all of
      // it, so a peer that reads part of a large write shows no progress.
      const reason = `its waiting output did not fall below ${congestion.lowestPending} bytes in ${slowClientGraceMs / 1000} s (${pending} bytes wait)`;
      verdicts.push({ client, reason, discardOutput: true });
    }
  }

  /** Handshake and frame deadlines. Time counts only while the server reads
   * the connection: a client is never dropped for a deadline that ran
   * while the server itself left its bytes in the kernel. Looked at when
   * the earliest deadline comes and, while anyone is connected, at least
   * once per frame timeout: a frame begun after one look is then seen by
   * the next one in time. (The reactor does not wake the loop for part of
   * a frame, as a blocking recv() would not return for it.) */
  private checkDeadlines(named: Iterable<TClient>, now: number, verdicts: Verdict<TClient>[]): void {
    const { handshakeTimeoutMs, frameTimeoutMs } = this.limits;
    let next = Infinity;
    for (const [client, acceptedAt] of this.handshakes) {
      // Not being read: the clock starts again when it is.
      if (!client.reading) {
        next = Math.min(next, now + handshakeTimeoutMs);
        continue;
      }
      const deadline = Math.max(acceptedAt, client.readingSince) + handshakeTimeoutMs;
      if (deadline <= now) verdicts.push({ client, reason: `no handshake within ${handshakeTimeoutMs / 1000} s`, discardOutput: false });
      else next = Math.min(next, deadline);
    }
    for (const client of named) {
      next = Math.min(next, now + frameTimeoutMs);
      if (!client.reading || client.unfinishedSince === undefined) continue;
      const deadline = Math.max(client.unfinishedSince, client.readingSince) + frameTimeoutMs;
      if (deadline <= now) verdicts.push({ client, reason: `frame not finished within ${frameTimeoutMs / 1000} s`, discardOutput: false });
      else next = Math.min(next, deadline);
    }
    this.nextLookAt = next;
  }

  /** Over the input budget, the connection holding the most input is cut
   * off, then the next, until the input kept is within the budget again.
   * A client with a whole frame waiting is not to blame while the room
   * goes on: the loop takes its frames, one a round, while reading stays
   * stopped, and that frees the budget. What only the client can free is a
   * frame it has begun and not finished. (While a client is congested, no one's
   * frames are taken, and every byte kept counts.) */
  private checkInputBudget(named: Iterable<TClient>, verdicts: Verdict<TClient>[]): void {
    let kept = this.flow.inputBytes;
    const budget = this.limits.inputBudget;
    if (kept < budget) return;
    const clients = [...named, ...this.handshakes.keys()];
    const served = (client: TClient) => client.readable && !this.anyCongested;
    for (const client of clients) if (served(client)) kept -= client.inputBytes;
    if (kept < budget) return;
    const judged = new Set(verdicts.map((verdict) => verdict.client));
    const candidates = clients.filter((client) => !served(client) && client.inputBytes > 0 && !judged.has(client));
    candidates.sort((a, b) => b.inputBytes - a.inputBytes);
    for (const client of candidates) {
      if (kept < budget) break;
      verdicts.push({
        client,
        reason: `holds ${client.inputBytes} bytes of input while the server holds ${kept}, over the input budget of ${budget}`,
        discardOutput: false,
      });
      kept -= client.inputBytes;
    }
  }
}
