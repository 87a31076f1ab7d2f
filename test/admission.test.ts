// Who may come in, asked of the Admission alone: the shares of addresses a
// test cannot connect from (the default share of a host elsewhere, such as
// 10.0.0.7; every address of 127.0.0.0/8). The same rules over real sockets
// are in test/hostile.test.ts, "one host against the room".

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Admission, isLoopback } from '../src/room/admission.js';

/** Lets in, one after another, as many from `address` as the admission
 * takes, up to `tries`; returns how many came in and why the next did not. */
function fill(admission: Admission<number>, address: string, tries: number): { admitted: number; refusal: string | undefined } {
  for (let admitted = 0; admitted < tries; admitted++) {
    const refusal = admission.refusal(address);
    if (refusal !== undefined) return { admitted, refusal };
    admission.enter(admitted, address);
  }
  return { admitted: tries, refusal: undefined };
}

describe('the share per address', () => {
  test('by default a host elsewhere may hold half the room', () => {
    const admission = new Admission<number>({ maxClients: 50, maxPerAddress: null });
    assert.deepEqual(fill(admission, '10.0.0.7', 50), { admitted: 25, refusal: 'too many connections from 10.0.0.7 (25)' });
  });

  test('by default this machine has no share: every loopback address may fill the room', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      const admission = new Admission<number>({ maxClients: 50, maxPerAddress: null });
      assert.deepEqual(fill(admission, address, 51), { admitted: 50, refusal: 'the room is full (50 connections not yet named)' }, address);
    }
  });

  test('an explicit share holds for loopback as for every address', () => {
    for (const address of ['127.0.0.1', '::1', '10.0.0.7']) {
      const admission = new Admission<number>({ maxClients: 3, maxPerAddress: 1 });
      assert.deepEqual(fill(admission, address, 3), { admitted: 1, refusal: `too many connections from ${address} (1)` }, address);
    }
  });

  test('0 is no limit, for every address', () => {
    const admission = new Admission<number>({ maxClients: 50, maxPerAddress: 0 });
    assert.equal(fill(admission, '10.0.0.7', 50).admitted, 50);
  });
});

describe('isLoopback', () => {
  test('127.0.0.0/8 and ::1, written either way, are this machine', () => {
    for (const address of ['127.0.0.1', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1'])
      assert.ok(isLoopback(address), address);
  });

  test('other addresses, and none, are not', () => {
    for (const address of ['10.0.0.7', '128.0.0.1', '::2', '::ffff:10.0.0.7', 'fe80::1', '']) assert.ok(!isLoopback(address), address);
  });
});
