import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyOutbox, joinSteps, nextStep, type OutboxStep } from '../src/room/outbox.js';
import { SeededRandom } from './helpers/random.js';

// The round's outboxes share their steps (src/room/outbox.ts). Whatever the
// order of the writes, each outbox must hold exactly the bytes written to
// it, in order; outboxes written the same must end at one step, joined once.

/** What a connection does with its outbox (src/room/reactor.ts). */
class Outbox {
  last: OutboxStep | undefined;
  constructor(private readonly start: () => OutboxStep) {}
  write(data: Buffer): void {
    this.last = nextStep(this.last ?? this.start(), data);
  }
  take(): Buffer | undefined {
    const last = this.last;
    this.last = undefined;
    if (last === undefined) return undefined;
    last.joined ??= joinSteps(last);
    return last.joined;
  }
}

describe('outboxes', () => {
  test('a broadcast, a sender left out and a newcomer: each gets its own bytes, the same ones one buffer', () => {
    const start = emptyOutbox();
    const [a, b, sender, newcomer] = [1, 2, 3, 4].map(() => new Outbox(() => start)) as [Outbox, Outbox, Outbox, Outbox];
    const [line1, line2, reply, notice] = ['line 1;', 'line 2;', 'reply;', 'notice;'].map((text) => Buffer.from(text)) as [Buffer, Buffer, Buffer, Buffer];
    for (const outbox of [a, b]) outbox.write(line1); // the sender does not get its own line
    for (const outbox of [a, b, sender]) outbox.write(line2);
    newcomer.write(reply);
    for (const outbox of [a, b, sender]) outbox.write(notice); // nor the newcomer its own notice
    newcomer.write(line2);
    assert.equal(a.last!.bytes, 'line 1;line 2;notice;'.length);
    assert.equal(a.last, b.last, 'a and b were written the same: one step');
    const taken = [a, b, sender, newcomer].map((outbox) => outbox.take()!);
    assert.deepEqual(
      taken.map((buffer) => buffer.toString()),
      ['line 1;line 2;notice;', 'line 1;line 2;notice;', 'line 2;notice;', 'reply;line 2;'],
    );
    assert.equal(taken[0], taken[1], 'and one buffer');
    assert.equal(a.take(), undefined, 'taken, the outbox is empty');
  });

  test('any interleaving of shared and private writes leaves each outbox exactly its own bytes', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = new SeededRandom(seed);
      let start = emptyOutbox();
      const outboxes = Array.from({ length: 1 + random.below(12) }, () => new Outbox(() => start));
      for (let round = 0; round < 3; round++) {
        const expected = outboxes.map((): Buffer[] => []);
        let frames = 0;
        for (let writes = random.below(40); writes > 0; writes--) {
          // A frame goes to everyone, to all but one, or to one alone; the
          // same buffer may come twice in a row.
          const frame = Buffer.from(`<${round}.${frames++}>`);
          const skip = random.below(3) === 0 ? random.below(outboxes.length) : -1;
          const only = random.below(4) === 0 ? random.below(outboxes.length) : -1;
          for (let i = 0; i < outboxes.length; i++) {
            if (i === skip || (only !== -1 && i !== only)) continue;
            for (let times = random.below(6) === 0 ? 2 : 1; times > 0; times--) {
              outboxes[i]!.write(frame);
              expected[i]!.push(frame);
            }
          }
        }
        outboxes.forEach((outbox, i) => {
          const want = expected[i]!.length === 0 ? undefined : Buffer.concat(expected[i]!).toString();
          assert.equal(outbox.last?.bytes ?? 0, want?.length ?? 0, `seed ${seed}, round ${round}, outbox ${i}: bytes`);
          assert.equal(outbox.take()?.toString(), want, `seed ${seed}, round ${round}, outbox ${i}`);
        });
        // The reactor starts every round afresh; not doing so must not
        // change what is sent, only what is kept.
        if (random.below(2) === 0) start = emptyOutbox();
      }
    }
  });
});
