// One client floods the room while another sends a line every 100 ms: how
// long the other's lines take to reach a third client, and how long the
// server goes on relaying the flood once it stops (what the kernel's socket
// buffers held). Runs scripts/server.ts as a child process.
//
//   npx tsx scripts/bench/flood.ts            one-character lines
//   npx tsx scripts/bench/flood.ts --empty    empty messages (not relayed)

import { frame } from '../../src/wire/wire.js';
import { RawClient, startServerProgram } from '../../test/helpers/chat.js';

const FLOOD_MS = 6000;
const AFTER_MS = 3000;
const empty = process.argv.includes('--empty');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const { program, port } = await startServerProgram();
const carol = await RawClient.join(port, 'carol');
const bob = await RawClient.join(port, 'bob');
const mallory = await RawClient.join(port, 'mallory');
await Promise.all([carol.next(), carol.next(), bob.next()]);

// Mallory writes as fast as TCP takes it.
const batch = Buffer.concat(Array.from({ length: 2000 }, () => frame(empty ? '' : 'x')));
let flooding = true;
let floodFrames = 0;
const flood = () => {
  while (flooding) {
    floodFrames += 2000;
    if (!mallory.socket.write(batch)) break;
  }
  if (flooding) mallory.socket.once('drain', flood);
};
flood();

// Carol times bob's lines (each carries when it was sent) and notes the
// last of mallory's.
const latencies: number[] = [];
let malloryHeard = 0;
let lastMalloryAt = 0;
void (async () => {
  for (let message = await carol.next(); message !== undefined; message = await carol.next()) {
    if (message.startsWith('\n#[bob')) latencies.push(performance.now() - Number(message.split('>>')[1]));
    else if (message.startsWith('\n#[mallory')) {
      malloryHeard += 1;
      lastMalloryAt = performance.now();
    }
  }
})();
const ticker = setInterval(() => bob.send(String(performance.now())), 100);
await sleep(FLOOD_MS);
flooding = false;
const stoppedAt = performance.now();
await sleep(AFTER_MS);
clearInterval(ticker);
await sleep(500);

latencies.sort((a, b) => a - b);
const at = (fraction: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * fraction))]!.toFixed(1);
console.log(`${empty ? 'empty messages' : 'one-character lines'} for ${FLOOD_MS / 1000} s: ${floodFrames} frames written`);
console.log(`bob's ${latencies.length} lines reached carol in: median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`);
if (!empty) {
  const caughtUp =
    malloryHeard === floodFrames ? `the last ${((lastMalloryAt - stoppedAt) / 1000).toFixed(1)} s after the flood stopped` : 'not all within the run';
  console.log(`mallory's lines relayed to carol: ${malloryHeard}, ${caughtUp}`);
}
program.child.kill('SIGKILL');
process.exit(0);
