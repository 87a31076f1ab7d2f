// Who may come in: the room's size, a fair share of it per address, and
// one name per person.
//
// The recipe admits everyone and anyone's name. A public room cannot: one
// host could hold every seat, and anyone could speak as someone already in
// the room. `ChatServer` asks here at the two moments the recipe has: when
// it accepts a connection, and when that connection sends its name. What a
// name may hold is src/room/text.ts's business; here it is only whether the
// name is taken.

import { BlockList, isIPv6 } from 'node:net';
import { howMany } from './plural.js';
import { nameKey } from './text.js';

export interface AdmissionLimits {
  /** Connections in the room at once, named or still in the handshake. */
  maxClients: number;
  /** Connections in the room from one address, this machine's own
   * (loopback) included; 0 for no limit; null for the default:
   * `defaultMaxPerAddress(maxClients)` for every address but loopback,
   * which has no limit. */
  maxPerAddress: number | null;
}

/** The most places one address may hold when no limit is given: half the
 * room, so that one host cannot take it, however small (a room of 50 lets
 * one address have 25); at most 64, so that in a large room it takes many
 * hosts to crowd the others out; and at least 1, for a room of one. 64
 * still lets a class behind one address (a school's NAT, 30 students with a
 * client or two each) into the default room. This machine's own addresses
 * have no such default (see `isLoopback`). */
export function defaultMaxPerAddress(maxClients: number): number {
  return Math.max(1, Math.min(Math.floor(maxClients / 2), 64));
}

/** This machine's own addresses: 127.0.0.0/8 and ::1. Node's BlockList
 * also matches an IPv4 address written as IPv6 (::ffff:127.0.0.1). */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether the peer is this machine. Whoever connects from it could as well
 * run a server of their own, so the default share per address leaves it
 * alone, as IRC servers exempt localhost by default: a teacher fills a room
 * from one laptop, and the demo runs as many clients as it likes. */
export function isLoopback(address: string): boolean {
  return LOOPBACK.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
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
    if (this.admitted.size >= this.limits.maxClients) return this.roomFull();
    const share = this.shareOf(address);
    if (share > 0 && (this.perAddress.get(address) ?? 0) >= share) return `too many connections from ${address} (${share})`;
    return undefined;
  }

  /** The places this address may hold; 0 for no limit. */
  private shareOf(address: string): number {
    const { maxClients, maxPerAddress } = this.limits;
    if (maxPerAddress !== null) return maxPerAddress;
    return isLoopback(address) ? 0 : defaultMaxPerAddress(maxClients);
  }

  /** Why the room is full, truly: the places are taken by clients, or by
   * connections that have not given a name yet (a flood of them, say):
   * `the room is full (20 places: 3 clients, 17 connections not yet named)`. */
  private roomFull(): string {
    const named = this.nameOf.size;
    const unnamed = this.admitted.size - named;
    const parts = [];
    if (named > 0) parts.push(howMany(named, 'client'));
    if (unnamed > 0) parts.push(`${howMany(unnamed, 'connection')} not yet named`);
    const taken = parts.length > 1 ? `${howMany(this.admitted.size, 'place')}: ${parts.join(', ')}` : parts.join('');
    return `the room is full (${taken})`;
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
