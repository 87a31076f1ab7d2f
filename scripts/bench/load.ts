// The benchmark's load generator: a process of its own that connects the
// clients, drives one scenario against a server, and prints one line of
// JSON with what it measured. scripts/bench.ts runs it; it can be run by
// hand too:
//
//   npx tsx scripts/bench/load.ts --port 8800 --server-pid 1234 --scenario burst --clients 100 --senders 10 --messages 100

import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { decodePickle } from '../../src/wire/pickle.js';
import { FrameDecoder, frame, HEADER_SIZE } from '../../src/wire/wire.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'server-pid': { type: 'string' },
    scenario: { type: 'string' },
    clients: { type: 'string', default: '100' },
    senders: { type: 'string', default: '10' },
    messages: { type: 'string', default: '100' },
    size: { type: 'string', default: '64' },
    rate: { type: 'string', default: '100' },
    'duration-ms': { type: 'string', default: '5000' },
    'timeout-ms': { type: 'string', default: '60000' },
    // 0 measures the fresh server's first pass, as a user meets it.
    'warm-up-passes': { type: 'string', default: '3' },
  },
});
const port = Number(values.port);
const serverPid = Number(values['server-pid']);
const scenario = values.scenario as 'burst' | 'latency' | 'storm' | 'idle';
const clientCount = Number(values.clients);
const size = Number(values.size);
const timeoutMs = Number(values['timeout-ms']);

/** Server CPU time in ms, from /proc: the time each of the server's threads
 * has spent on a CPU, in nanoseconds (schedstat), summed. (The user and
 * system times in /proc/<pid>/stat count in ticks of 10 ms: too coarse for a
 * burst that costs the server 30 ms.) */
function serverCpuMs(): number {
  let nanoseconds = 0;
  for (const thread of readdirSync(`/proc/${serverPid}/task`)) {
    try {
      nanoseconds += Number(readFileSync(`/proc/${serverPid}/task/${thread}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read: its time is lost
      // either way (a thread's time leaves schedstat with it).
    }
  }
  return nanoseconds / 1e6;
}

/** The same for the server's main thread alone, where its JavaScript runs;
 * the rest is V8's compiler and garbage collector threads and libuv's pool. */
function serverMainThreadCpuMs(): number {
  return Number(readFileSync(`/proc/${serverPid}/task/${serverPid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

function serverPeakRssMb(): number {
  const status = readFileSync(`/proc/${serverPid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const now = () => performance.timeOrigin + performance.now();

/** Counts frames without decoding them: enough for the join storm, where
 * tens of millions of notices arrive. */
class FrameCounter {
  frames = 0;
  private header = Buffer.alloc(HEADER_SIZE);
  private headerFilled = 0;
  private payloadLeft = 0;

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, chunk.length - at);
        this.payloadLeft -= take;
        at += take;
        if (this.payloadLeft === 0) this.frames += 1;
        continue;
      }
      if (this.headerFilled === 0 && at + HEADER_SIZE <= chunk.length) {
        // A whole header in the chunk, as nearly always: read where it is
        // (in the storm, copying 50 million headers out cost the load
        // generator more CPU than the server spent).
        this.payloadLeft = chunk.readUInt32BE(at);
        at += HEADER_SIZE;
        if (this.payloadLeft === 0) this.frames += 1;
        continue;
      }
      const copied = chunk.copy(this.header, this.headerFilled, at, at + HEADER_SIZE - this.headerFilled);
      this.headerFilled += copied;
      at += copied;
      if (this.headerFilled === HEADER_SIZE) {
        this.headerFilled = 0;
        this.payloadLeft = this.header.readUInt32BE(0);
        if (this.payloadLeft === 0) this.frames += 1;
      }
    }
  }
}

interface BenchClient {
  socket: Socket;
  index: number;
  counter: FrameCounter;
  decoder: FrameDecoder | undefined;
}

/** Unmeasured passes of the load before the measured one (burst, latency). */
const WARM_UP_PASSES = Number(values['warm-up-passes']);
/** Server CPU per delivery in the first of them, on a fresh server. */
let coldCpuUsPerMessage: number | null = null;
/** The connected clients; the first ones are the senders. */
let clients: BenchClient[] = [];
let delivered = 0;
let expected = 0;
let outOfOrder = 0;
const latencies: number[] = [];
let onProgress: () => void = () => {};

/** Chat lines look like `<sender> <seq> <sent at, ms>` padded to the size. */
function lineText(sender: number, seq: number): string {
  return `${sender} ${seq} ${now().toFixed(3)} `.padEnd(size, '.');
}

function openClient(index: number, decode: boolean): Promise<BenchClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const client: BenchClient = { socket, index, counter: new FrameCounter(), decoder: decode ? new FrameDecoder() : undefined };
    const nextSeq = new Map<number, number>();
    let joined = false;
    socket.on('error', reject);
    socket.on('connect', () => socket.write(frame(`NAME: c${index}`)));
    socket.on('data', (chunk: Buffer) => {
      const before = client.counter.frames;
      client.counter.push(chunk);
      if (!joined && client.counter.frames > 0) {
        joined = true;
        resolve(client);
      }
      if (client.decoder === undefined) {
        delivered += client.counter.frames - before;
      } else {
        client.decoder.push(chunk);
        for (let payload = client.decoder.next(); payload !== undefined; payload = client.decoder.next()) {
          const text = decodePickle(payload).text;
          const line = /^\n#\[c\d+@[^\]]+\]>>(\d+) (\d+) ([\d.]+) /.exec(text);
          if (line === null) continue; // the handshake reply and join notices
          const sender = Number(line[1]);
          const seq = Number(line[2]);
          if (seq !== (nextSeq.get(sender) ?? 0)) outOfOrder += 1;
          nextSeq.set(sender, seq + 1);
          latencies.push(now() - Number(line[3]));
          delivered += 1;
        }
      }
      onProgress();
    });
  });
}

/** Connects `count` clients, at most `concurrency` handshakes at a time. */
async function openClients(count: number, decode: boolean, concurrency = 200): Promise<BenchClient[]> {
  const clients = new Array<BenchClient>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        clients[index] = await openClient(index, decode);
      }
    }),
  );
  return clients;
}

/** When the measured phase must end, complete or not. */
let deadline = Infinity;

function untilDelivered(): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), Math.max(0, deadline - now()));
    onProgress = () => {
      if (delivered >= expected) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    onProgress();
  });
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Sends `messages` lines per sender, numbered from `firstSeq`: all at once
 * (burst) or one sender at `--rate` lines a second (latency); resolves
 * with whether every copy arrived by the deadline. */
function relay(firstSeq: number, messages: number): Promise<boolean> {
  delivered = 0;
  if (scenario === 'burst') {
    const senders = Number(values.senders);
    expected = senders * messages * (clientCount - 1);
    for (let s = 0; s < senders; s++) {
      for (let seq = firstSeq; seq < firstSeq + messages; seq++) clients[s]!.socket.write(frame(lineText(s, seq)));
    }
  } else {
    expected = messages * (clientCount - 1);
    let seq = firstSeq;
    const sender = clients[0]!;
    const tick = setInterval(() => {
      sender.socket.write(frame(lineText(0, seq)));
      if (++seq === firstSeq + messages) clearInterval(tick);
    }, 1000 / Number(values.rate));
  }
  return untilDelivered();
}

async function main(): Promise<void> {
  let cpuBefore: number;
  let mainThreadCpuBefore = 0;
  let startedAt: number;
  let complete: boolean;
  if (scenario === 'storm') {
    // Every join is announced to everyone already there: client i gets its
    // CLIENT reply and a notice for each of the clients after it.
    expected = clientCount + (clientCount * (clientCount - 1)) / 2;
    cpuBefore = serverCpuMs();
    mainThreadCpuBefore = serverMainThreadCpuMs();
    startedAt = now();
    // Connections are opened far faster than they are answered, as in a
    // real storm: the server sees many joins in each round. (500 stays
    // under the listen backlog of 511 that both servers have.)
    deadline = startedAt + timeoutMs;
    // A server too slow to admit everyone in time is reported as incomplete.
    const admitted = openClients(clientCount, false, 500).then((opened) => (clients = opened));
    const tooLate = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs));
    complete = (await Promise.race([admitted.then(() => true), tooLate])) && (await untilDelivered());
  } else {
    clients = await openClients(clientCount, true, 50);
    // Let the join notices settle before measuring.
    expected = clientCount + (clientCount * (clientCount - 1)) / 2;
    const joinedAll = clients.reduce((sum, c) => sum + c.counter.frames, 0);
    delivered = 0;
    if (joinedAll < expected) {
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (clients.reduce((sum, c) => sum + c.counter.frames, 0) >= expected) {
            clearInterval(check);
            resolve();
          }
        }, 20);
      });
    }
    // Passes of the same load first (three by default), unmeasured: the
    // first lines a fresh server relays are also the ones V8 compiles its
    // JavaScript on. The first pass's cost is reported apart, as the cold
    // cost. With none, the measured pass is the fresh server's first.
    let firstSeq = 0;
    if (scenario !== 'idle' && WARM_UP_PASSES > 0) {
      const perPass = scenario === 'burst' ? Number(values.messages) : Number(values.rate);
      for (let pass = 0; pass < WARM_UP_PASSES; pass++) {
        const before = serverCpuMs();
        deadline = now() + timeoutMs;
        if (!(await relay(firstSeq, perPass))) throw new Error('a warm-up pass did not complete');
        if (pass === 0) coldCpuUsPerMessage = ((serverCpuMs() - before) * 1000) / delivered;
        firstSeq += perPass;
      }
      // V8 compiles on threads of its own, after the code has run: that work
      // is left to finish too.
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    delivered = 0;
    latencies.length = 0;
    cpuBefore = serverCpuMs();
    mainThreadCpuBefore = serverMainThreadCpuMs();
    startedAt = now();
    deadline = startedAt + timeoutMs;
    if (scenario === 'idle') {
      await new Promise((resolve) => setTimeout(resolve, Number(values['duration-ms'])));
      expected = 0;
      complete = true;
    } else if (scenario === 'burst') {
      complete = await relay(firstSeq, Number(values.messages));
    } else {
      complete = await relay(firstSeq, Math.round((Number(values.rate) * Number(values['duration-ms'])) / 1000));
    }
  }
  const elapsedMs = now() - startedAt;
  const serverCpu = serverCpuMs() - cpuBefore;
  const serverMainThreadCpu = serverMainThreadCpuMs() - mainThreadCpuBefore;
  latencies.sort((a, b) => a - b);
  const result = {
    scenario,
    clients: clientCount,
    expected,
    delivered,
    complete,
    outOfOrder,
    elapsedMs,
    messagesPerSecond: delivered / (elapsedMs / 1000),
    serverCpuMs: serverCpu,
    serverMainThreadCpuMs: serverMainThreadCpu,
    serverCpuUsPerMessage: delivered > 0 ? (serverCpu * 1000) / delivered : null,
    coldCpuUsPerMessage,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.length > 0 ? latencies[latencies.length - 1]! : null,
    serverPeakRssMb: serverPeakRssMb(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  for (const client of clients) client?.socket.destroy();
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stdout.write(`${JSON.stringify({ scenario, error: String(error) })}\n`);
  process.exit(1);
});
