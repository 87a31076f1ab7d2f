// Who may come in: the room's size, a fair share of it per address, one
// name per person, and a log of refusals that says enough without flooding.
//
// The recipe admits everyone and anyone's name. A public room cannot: one
// host could hold every seat, and anyone could speak as someone already in
// the room. `ChatServer` asks here at the two moments the recipe has: when
// it accepts a connection, and when that connection sends its name. What a
// name may hold is src/text.ts's business; here it is only whether the
// name is taken.

import { nameKey } from './text.js';

export interface AdmissionLimits {
  /** Connections in the room at once, named or still in the handshake. */
  maxClients: number;
  /** Connections in the room from one address; 0 for no limit. */
  maxPerAddress: number;
}

/** Newcomers refused at once while so many from one address are already
 * waiting for their refusal (see `ChatServer.accept`). */
const NOTICES_PER_ADDRESS = 4;

/** The sockets Node may hold beyond the room: for telling newcomers why
 * they are refused, and for connections closing. Past the room and these,
 * Node closes a newcomer at once, without a word. */
export function refusalReserve(maxClients: number): number {
  return Math.min(maxClients, 64);
}

export class Admission<TClient> {
  /** Connections in the room, and the address of each. */
  private readonly admitted = new Map<TClient, string>();
  private readonly perAddress = new Map<string, number>();
  /** Connections waiting to be told they are refused: address and reason. */
  private readonly refusing = new Map<TClient, { address: string; reason: string }>();
  private readonly refusingPerAddress = new Map<string, number>();
  /** Names in use, by `nameKey`, and whose each is. */
  private readonly names = new Map<string, TClient>();
  private readonly nameOf = new Map<TClient, string>();

  constructor(readonly limits: AdmissionLimits) {}

  /** Why a newcomer from this address may not come in, or undefined. */
  refusal(address: string): string | undefined {
    const { maxClients, maxPerAddress } = this.limits;
    if (this.admitted.size >= maxClients) return `the room is full (${maxClients} connections already open)`;
    if (maxPerAddress > 0 && (this.perAddress.get(address) ?? 0) >= maxPerAddress) return `too many connections from ${address} (${maxPerAddress})`;
    return undefined;
  }

  /** Whether a newcomer refused from this address may still be told why:
   * not when several from it are waiting for that already, or a host could
   * hold the sockets kept for telling everyone. */
  mayTell(address: string): boolean {
    return (this.refusingPerAddress.get(address) ?? 0) < NOTICES_PER_ADDRESS;
  }

  /** The connection comes in: it counts towards the room and its address. */
  enter(client: TClient, address: string): void {
    this.admitted.set(client, address);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
  }

  /** The connection will be refused once it has said something (so that
   * the refusal is sent in the pickle shape it speaks). */
  refuseLater(client: TClient, address: string, reason: string): void {
    this.refusing.set(client, { address, reason });
    this.refusingPerAddress.set(address, (this.refusingPerAddress.get(address) ?? 0) + 1);
  }

  /** Why the connection is to be refused, if it came in past a limit. */
  refusalFor(client: TClient): string | undefined {
    return this.refusing.get(client)?.reason;
  }

  /** Takes the name for the client; the reason if someone in the room has it. */
  claim(client: TClient, name: string): string | undefined {
    const key = nameKey(name);
    const holder = this.names.get(key);
    if (holder !== undefined && holder !== client) return `the name "${name}" is in use`;
    this.names.set(key, client);
    this.nameOf.set(client, key);
    return undefined;
  }

  /** The connection has gone: its place, its address's share and its name are free. */
  leave(client: TClient): void {
    const key = this.nameOf.get(client);
    if (key !== undefined) {
      this.names.delete(key);
      this.nameOf.delete(client);
    }
    countDown(this.perAddress, this.admitted.get(client));
    this.admitted.delete(client);
    countDown(this.refusingPerAddress, this.refusing.get(client)?.address);
    this.refusing.delete(client);
  }
}

function countDown(counts: Map<string, number>, address: string | undefined): void {
  if (address === undefined) return;
  const count = (counts.get(address) ?? 1) - 1;
  if (count === 0) counts.delete(address);
  else counts.set(address, count);
}

/** Refusals, logged without flooding the log: the first in a second is
 * logged as it happens, whole; the others in that second are counted, and
 * one line sums them up when the second is over. A client refused in a
 * loop thousands of times a second costs two lines a second. */
export class RefusalLog {
  /** When the current second began (performance.now(), in ms), or undefined. */
  private windowStart: number | undefined;
  private counted = 0;
  private readonly byKind = new Map<string, number>();
  private last = '';

  constructor(private readonly log: (line: string) => void) {}

  /** A refusal: `kind` groups it in the summary, `line` is its whole log line. */
  refused(kind: string, line: string, count = 1): void {
    const now = performance.now();
    if (this.windowStart !== undefined && now - this.windowStart >= 1000) this.summarize(now);
    if (this.windowStart === undefined) {
      this.windowStart = now;
      this.log(line);
      count -= 1;
      if (count === 0) return;
    }
    this.counted += count;
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + count);
    this.last = line;
  }

  /** Milliseconds until the summary is due; undefined when none is. */
  timeToSummary(): number | undefined {
    if (this.windowStart === undefined) return undefined;
    return Math.max(0, this.windowStart + 1000 - performance.now());
  }

  /** Writes the summary of the second that ended, if it has. */
  due(): void {
    const now = performance.now();
    if (this.windowStart !== undefined && now - this.windowStart >= 1000) this.summarize(now);
  }

  private summarize(now: number): void {
    if (this.counted === 0) {
      this.windowStart = undefined;
      return;
    }
    const kinds = [...this.byKind].map(([kind, count]) => `${count.toLocaleString('en-US')} ${kind}`).join(', ');
    const connections = this.counted === 1 ? 'connection' : 'connections';
    this.log(
      `Chat server: refused ${this.counted.toLocaleString('en-US')} more ${connections} in the last second (${kinds}); the last: ${this.last.replace(/^Chat server: /, '')}`,
    );
    this.counted = 0;
    this.byKind.clear();
    // The next refusal starts a new second with a whole line of its own.
    this.windowStart = now;
  }
}
