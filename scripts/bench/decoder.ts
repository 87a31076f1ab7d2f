// How long the frame decoder takes to hand over a flood of tiny frames:
// what a client sending empty messages flat out leaves in its inbox. The
// time per frame should not grow with the number of frames waiting. Then
// how long the pickle decoder takes per message, for the pickles the
// clients of each kind send.
//
//   npx tsx scripts/bench/decoder.ts

import { decodePickle, encodePickle } from '../../src/wire/pickle.js';
import { FrameDecoder, frame } from '../../src/wire/wire.js';

/** Node reads a socket 64 KiB at a time. */
const CHUNK = 64 * 1024;

/** Pushes `count` empty messages in chunks, takes them all; returns the milliseconds. */
function drain(count: number): number {
  const stream = Buffer.concat(Array.from({ length: count }, () => frame('')));
  const decoder = new FrameDecoder();
  const start = performance.now();
  for (let at = 0; at < stream.length; at += CHUNK) decoder.push(stream.subarray(at, at + CHUNK));
  let taken = 0;
  while (decoder.next() !== undefined) taken += 1;
  if (taken !== count) throw new Error(`took ${taken} of ${count} frames`);
  return performance.now() - start;
}

drain(10_000); // unmeasured: the first pass also compiles the code
for (const count of [10_000, 40_000, 80_000, 160_000]) {
  const ms = drain(count);
  console.log(`${String(count).padStart(7)} empty messages pushed and taken: ${ms.toFixed(1)} ms (${((ms * 1e6) / count).toFixed(0)} ns a frame)`);
}

/** A chat line of about 60 characters, as each kind of client pickles it
 * (Python wrote these bytes). */
const PICKLES: Record<string, Buffer> = {
  'Python 3 text, protocol 4, 1-tuple': Buffer.from(
    '80049542000000000000008c3c48656c6c6f2c20616c6c2c20746869732069732061207479706963616c2063686174206c696e652c20616e64206869206d6f7265206f662069742e2e9485942e',
    'hex',
  ),
  'text with é, protocol 2 (the port)': encodePickle('café: this is a typical chat line, and it goes on for a bit'),
  'Python 2 byte string, cPickle protocol 0': Buffer.from(
    '285327746869732069732061207479706963616c2063686174206c696e652066726f6d20507974686f6e20322c206361665c7863335c786139206f6b2121270a70310a7470320a2e',
    'hex',
  ),
  'Python 2 byte string in Latin-1, protocol 2': Buffer.from(
    '8002553b636166e93a20746869732069732061207479706963616c2063686174206c696e652c20616e6420697420676f6573206f6e20666f7220612062697471012e',
    'hex',
  ),
};

/** Decodes one pickle `count` times; returns the nanoseconds a message. */
function decodeMany(pickle: Buffer, count: number): number {
  const start = performance.now();
  for (let i = 0; i < count; i++) decodePickle(pickle);
  return ((performance.now() - start) * 1e6) / count;
}

for (const [what, pickle] of Object.entries(PICKLES)) {
  decodeMany(pickle, 50_000); // unmeasured, as above
  console.log(`${what.padEnd(45)} decoded: ${decodeMany(pickle, 500_000).toFixed(0)} ns a message`);
}
