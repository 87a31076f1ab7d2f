// How long the frame decoder takes to hand over a flood of tiny frames:
// what a client sending empty messages flat out leaves in its inbox. The
// time per frame should not grow with the number of frames waiting.
//
//   npx tsx scripts/bench/decoder.ts

import { FrameDecoder, frame } from '../../src/wire.js';

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
