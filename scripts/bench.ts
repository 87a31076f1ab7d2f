// The benchmark: the project's server against a plain Node server and the
// Python original, driven by the same load from a separate process, in
// turn, and compared.
//
//   npm run bench                      every scenario, on warm servers
//   npm run bench -- --reps 5 --only burst-100,latency-50
//   npm run bench -- --cold            as a user meets it: no warm-up
//   npm run bench -- --help

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const HELP = `Usage: npm run bench -- [options]

Runs each scenario against the project's server (scripts/server.ts), a
plain Node server (scripts/bench/plain-server.ts) and, where python3 is
present and the scenario suits it, the Python original
(test/interop/chat_server_with_select.py), taking turns, with the load coming
from scripts/bench/load.ts in a process of its own. Prints, per scenario and
server, medians over the repetitions with their spread (min-max), and the
ratio project/plain (and before/plain with --before); a ratio whose two
spreads overlap is marked "~": the runs do not tell the two apart. The
bursts and the latency run measure a server already warm: three passes of
the same load go first, unmeasured, and the first one's CPU per message is
shown apart ("cold").

With --cold, the servers are measured as a user meets them: each run
measures a fresh server's first pass of the load, with no warm-up, five
runs each, without the Python original; the scenarios are the targets'
(burst-100x1000, burst-100, latency-50, idle-100 and the join storm).

It runs on Linux only: each server's CPU time and memory come from /proc.

Options:
  --cold             no warm-up passes, 5 repetitions of every scenario
  --reps N           repetitions of each burst, scale and idle scenario
                     (default 3; --cold: 5)
  --latency-reps N   repetitions of the latency scenario (default 5)
  --storm-reps N     repetitions of the join storm (default 1; --cold: 5)
  --storm-clients N  clients in the join storm (default 10000)
  --only A,B         run only these scenarios, each by the method it is run
                     by otherwise (warm unless --cold); the scenarios:
                     {names}
  --before DIR       also run the server of another checkout of the project
                     (the code before a change, with its node_modules), as
                     "before", in turn with the others: before and after
                     from one run. It is started with --max-per-address 0,
                     so DIR must be a checkout that has that option
  --pin              run each server on CPU 1 and the load generator on CPU 0
                     (taskset), so that neither takes the other's CPU: each
                     write() otherwise wakes the load generator onto the
                     server's CPU, which then waits for it
  -h, --help         show this help
`;

interface Scenario {
  name: string;
  args: string[];
  reps: 'reps' | 'latency-reps' | 'storm-reps';
  timeoutMs: number;
  /** Which method runs it by default: both, or only the warm one or --cold. */
  method: 'both' | 'warm' | 'cold';
  /** The Python original can take it: a few hundred clients at most (its
   * select() cannot watch descriptor 1024), and some load to measure. */
  python?: boolean;
}

interface Result {
  complete: boolean;
  expected: number;
  delivered: number;
  outOfOrder: number;
  elapsedMs: number;
  messagesPerSecond: number;
  serverCpuMs: number;
  /** The part of it on the main thread, where the server's JavaScript runs:
   * the rest is V8 compiling it and collecting garbage, on threads of its own. */
  serverMainThreadCpuMs: number;
  serverCpuUsPerMessage: number | null;
  /** The same, in the first of the unmeasured warm-up passes. */
  coldCpuUsPerMessage: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  serverPeakRssMb: number;
  error?: string;
  /** The server had exited by itself by the end of the run. */
  crashed?: boolean;
}

/** The project's server; run from another checkout with --before. */
const PROJECT = [process.execPath, '--import', 'tsx', 'scripts/server.ts', '--max-per-address', '0'] as const;

const SERVERS = {
  // Every load client comes from 127.0.0.1: no limit per address.
  project: PROJECT,
  before: PROJECT,
  plain: [process.execPath, '--import', 'tsx', 'scripts/bench/plain-server.ts'],
  python: ['python3', '-u', 'test/interop/chat_server_with_select.py', '--name', 'server'],
} as const;
type ServerName = keyof typeof SERVERS;

/** With --before, the checkout whose server runs as `before`. */
let beforeDirectory: string | undefined;
const HAVE_PYTHON = spawnSync('python3', ['--version']).error === undefined;

/** With --pin, the command that runs a program on one CPU only. */
type Pin = (cpu: number, command: string, args: string[]) => [string, string[]];
const unpinned: Pin = (_cpu, command, args) => [command, args];
const pinned: Pin = (cpu, command, args) => ['taskset', ['--cpu-list', String(cpu), command, ...args]];
let pin = unpinned;

function scenarios(stormClients: number): Scenario[] {
  const burst = (name: string, clients: number, senders: number, messages: number, method: Scenario['method'] = 'warm'): Scenario => ({
    name,
    args: ['--scenario', 'burst', '--clients', String(clients), '--senders', String(senders), '--messages', String(messages), '--size', '64'],
    reps: 'reps',
    timeoutMs: 60_000,
    method,
    python: clients <= 100,
  });
  // The scale runs deliver about 100,000 messages each, whatever the room's size.
  const scale = (clients: number) => burst(`scale-${clients}`, clients, 10, Math.ceil(100_000 / (10 * (clients - 1))));
  return [
    // A million deliveries: warm, its three unmeasured passes would take long.
    burst('burst-100x1000', 100, 10, 1000, 'cold'),
    burst('burst-100', 100, 10, 100, 'both'),
    burst('burst-20', 20, 5, 1000),
    // Long and often enough to tell a 20 % difference from the noise.
    {
      name: 'latency-50',
      args: ['--scenario', 'latency', '--clients', '50', '--rate', '100', '--duration-ms', '10000', '--size', '64'],
      reps: 'latency-reps',
      timeoutMs: 40_000,
      method: 'both',
      python: true,
    },
    scale(10),
    scale(100),
    scale(1000),
    { name: 'idle-100', args: ['--scenario', 'idle', '--clients', '100', '--duration-ms', '2000'], reps: 'reps', timeoutMs: 30_000, method: 'both' },
    {
      name: `storm-${stormClients}`,
      args: ['--scenario', 'storm', '--clients', String(stormClients)],
      reps: 'storm-reps',
      timeoutMs: 60_000,
      method: 'both',
    },
  ];
}

/** Starts a server on a free port; resolves once it says it listens. */
async function startServer(name: ServerName): Promise<{ child: ChildProcess; port: number }> {
  const [command, ...args] = SERVERS[name];
  // stdin stays open: the Python original stops at the end of its input.
  const cwd = name === 'before' ? beforeDirectory : undefined;
  const child = spawn(...pin(1, command, [...args, '--port', '0']), { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const match = /^Server listening to port: (\d+) \.\.\.$/.exec(line);
    if (match) {
      // Keep reading (and dropping) its log so that it never blocks on a full pipe.
      child.stdout!.resume();
      return { child, port: Number(match[1]) };
    }
  }
  throw new Error(`${name} server exited before listening`);
}

/** Unmeasured passes of the load before the measured one: 0 with --cold. */
let warmUpPasses = 3;

async function runOnce(server: ServerName, scenario: Scenario): Promise<Result> {
  const { child, port } = await startServer(server);
  const load = spawn(
    ...pin(0, process.execPath, [
      '--import',
      'tsx',
      'scripts/bench/load.ts',
      '--port',
      String(port),
      '--server-pid',
      String(child.pid),
      '--timeout-ms',
      String(scenario.timeoutMs),
      '--warm-up-passes',
      String(warmUpPasses),
      ...scenario.args,
    ]),
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  load.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const serverExited = once(child, 'exit');
  await once(load, 'exit');
  // The Python original may have crashed already (several clients leaving
  // at once is one of its defects): then there is nothing left to stop.
  const crashed = child.exitCode !== null || child.signalCode !== null;
  child.kill('SIGKILL');
  await serverExited;
  try {
    return { ...(JSON.parse(output) as Result), crashed };
  } catch {
    return { error: `load generator printed ${JSON.stringify(output)}${crashed ? '; the server had crashed' : ''}` } as Result;
  }
}

/** The median and the spread (min, max) of what was measured. */
interface Spread {
  median: number | null;
  min: number | null;
  max: number | null;
}

function spread(values: (number | null)[]): Spread {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return present.length === 0 ? { median: null, min: null, max: null } : { median: median(present), min: Math.min(...present), max: Math.max(...present) };
}

function median(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (present.length === 0) return null;
  const mid = Math.floor(present.length / 2);
  return present.length % 2 === 1 ? present[mid]! : (present[mid - 1]! + present[mid]!) / 2;
}

const format = (value: number | null, digits = 1) => (value === null ? '—' : value.toFixed(digits));
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
const withSpread = (s: Spread, digits: number) => (s.median === null ? '—' : `${format(s.median, digits)} (${format(s.min, digits)}–${format(s.max, digits)})`);
const overlap = (a: Spread, b: Spread) => a.min !== null && b.min !== null && a.max! >= b.min && b.max! >= a.min;
/** The ratio of two medians, marked "~" when the spreads overlap. */
const ratioOf = (a: Spread, b: Spread) => {
  const value = ratio(a.median, b.median);
  return value === null ? '—' : `${format(value, 2)}${overlap(a, b) ? '~' : ''}`;
};

interface Summary {
  runs: number;
  complete: number;
  messagesPerSecond: number | null;
  cpuUsPerMessage: Spread;
  coldCpuUsPerMessage: number | null;
  serverCpuMs: number | null;
  mainThreadCpuMs: number | null;
  p50: Spread;
  p99: Spread;
  max: number | null;
  rss: number | null;
  elapsedMs: number | null;
  outOfOrder: number;
}

function summarize(results: Result[]): Summary {
  const complete = results.filter((r) => r.error === undefined && r.complete);
  // Speeds come from complete runs only: an incomplete run is not a speed.
  return {
    runs: results.length,
    complete: complete.length,
    messagesPerSecond: median(complete.map((r) => r.messagesPerSecond)),
    cpuUsPerMessage: spread(complete.map((r) => r.serverCpuUsPerMessage)),
    coldCpuUsPerMessage: median(complete.map((r) => r.coldCpuUsPerMessage)),
    serverCpuMs: median(complete.map((r) => r.serverCpuMs)),
    mainThreadCpuMs: median(complete.map((r) => r.serverMainThreadCpuMs)),
    p50: spread(complete.map((r) => r.p50Ms)),
    p99: spread(complete.map((r) => r.p99Ms)),
    max: median(complete.map((r) => r.maxMs)),
    rss: Math.max(...results.map((r) => r.serverPeakRssMb ?? 0)),
    elapsedMs: median(complete.map((r) => r.elapsedMs)),
    outOfOrder: results.reduce((sum, r) => sum + (r.outOfOrder ?? 0), 0),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cold: { type: 'boolean' },
      reps: { type: 'string' },
      'latency-reps': { type: 'string', default: '5' },
      'storm-reps': { type: 'string' },
      'storm-clients': { type: 'string', default: '10000' },
      only: { type: 'string' },
      pin: { type: 'boolean' },
      before: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const all = scenarios(Number(values['storm-clients']));
  const names = all.map((s) => s.name);
  if (values.help) {
    // Three names to a line, under the option's text.
    const rows: string[] = [];
    for (let i = 0; i < names.length; i += 3) rows.push(names.slice(i, i + 3).join(', '));
    process.stdout.write(HELP.replace('{names}', rows.join(`,\n${' '.repeat(21)}`)));
    return;
  }
  const only = values.only?.split(',');
  const unknown = only?.find((name) => !names.includes(name));
  if (unknown !== undefined) {
    process.stderr.write(`--only names a scenario that is not one: "${unknown}"; the scenarios are ${names.join(', ')} (see --help)\n`);
    process.exitCode = 1;
    return;
  }
  // A server's CPU time, per thread, and its peak memory come from Linux's /proc.
  if (process.platform !== 'linux')
    throw new Error(`npm run bench reads each server's CPU and memory from Linux's /proc: it runs on Linux only (this is ${process.platform})`);
  if (values.pin) {
    if (cpus().length < 2 || spawnSync('taskset', ['--version']).error !== undefined) throw new Error('--pin needs two CPUs and taskset (util-linux)');
    pin = pinned;
  }
  beforeDirectory = values.before;
  const cold = values.cold === true;
  if (cold) warmUpPasses = 0;
  const chosen = only ? all.filter((s) => only.includes(s.name)) : all.filter((s) => s.method === 'both' || s.method === (cold ? 'cold' : 'warm'));
  const reps = {
    reps: Number(values.reps ?? (cold ? 5 : 3)),
    'latency-reps': Number(values['latency-reps']),
    'storm-reps': Number(values['storm-reps'] ?? (cold ? 5 : 1)),
  };
  const machine = `Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'})`;
  const pinning = values.pin ? ', servers pinned to CPU 1, the load generator to CPU 0' : '';
  const method = cold ? ', cold: fresh servers, no warm-up' : '';
  console.log(`selectchat benchmark, ${new Date().toISOString()}, ${machine}${pinning}${method}`);
  const summaries = new Map<string, Partial<Record<ServerName, Summary>>>();
  for (const scenario of chosen) {
    const servers: ServerName[] = ['project', 'plain'];
    if (beforeDirectory !== undefined) servers.unshift('before');
    if (scenario.python && HAVE_PYTHON && !cold) servers.push('python');
    const results: Partial<Record<ServerName, Result[]>> = Object.fromEntries(servers.map((server) => [server, []]));
    for (let rep = 0; rep < reps[scenario.reps]; rep++) {
      for (const server of servers) {
        const result = await runOnce(server, scenario);
        results[server]!.push(result);
        const status =
          (result.error ?? (result.complete ? 'complete' : `INCOMPLETE: ${result.delivered} of ${result.expected} delivered`)) +
          (result.crashed ? ' (then the server crashed)' : '');
        console.log(
          `  ${scenario.name} rep ${rep + 1} ${server}: ${status}, ${format(result.elapsedMs, 0)} ms, server CPU ${format(result.serverCpuMs, 0)} ms`,
        );
      }
    }
    summaries.set(scenario.name, Object.fromEntries(servers.map((server) => [server, summarize(results[server]!)])));
  }
  printTable(summaries, cold);
}

/** With `cold`, every figure is a cold one: no column apart for them. */
function printTable(summaries: Map<string, Partial<Record<ServerName, Summary>>>, cold: boolean): void {
  const header = [
    'scenario',
    'server',
    'complete',
    'msgs/s',
    'CPU µs/msg',
    'cold µs/msg',
    'CPU ms',
    'main-thread ms',
    'p50 ms',
    'p99 ms',
    'max ms',
    'peak RSS MB',
    'elapsed ms',
  ];
  const rows: string[][] = [];
  for (const [name, byServer] of summaries) {
    for (const server of ['before', 'project', 'plain', 'python'] as const) {
      const s = byServer[server];
      if (s === undefined) continue;
      rows.push([
        name,
        server,
        `${s.complete}/${s.runs}`,
        format(s.messagesPerSecond, 0),
        withSpread(s.cpuUsPerMessage, 2),
        format(s.coldCpuUsPerMessage, 2),
        format(s.serverCpuMs, 0),
        format(s.mainThreadCpuMs, 0),
        withSpread(s.p50, 2),
        withSpread(s.p99, 2),
        format(s.max, 2),
        format(s.rss, 0),
        format(s.elapsedMs, 0),
      ]);
    }
    const p = byServer.project!;
    const q = byServer.plain!;
    const ratios = (label: string, a: Summary, b: Summary) => [
      name,
      label,
      '',
      format(ratio(a.messagesPerSecond, b.messagesPerSecond), 2),
      ratioOf(a.cpuUsPerMessage, b.cpuUsPerMessage),
      format(ratio(a.coldCpuUsPerMessage, b.coldCpuUsPerMessage), 2),
      format(ratio(a.serverCpuMs, b.serverCpuMs), 2),
      format(ratio(a.mainThreadCpuMs, b.mainThreadCpuMs), 2),
      ratioOf(a.p50, b.p50),
      ratioOf(a.p99, b.p99),
      format(ratio(a.max, b.max), 2),
      format(ratio(a.rss, b.rss), 2),
      format(ratio(a.elapsedMs, b.elapsedMs), 2),
    ];
    if (byServer.before !== undefined) rows.push(ratios('before/plain', byServer.before, q));
    rows.push(ratios('project/plain', p, q));
    if (p.outOfOrder + q.outOfOrder > 0) rows.push([name, `OUT OF ORDER: project ${p.outOfOrder}, plain ${q.outOfOrder}`]);
  }
  if (cold) {
    const at = header.indexOf('cold µs/msg');
    for (const cells of [header, ...rows]) cells.splice(at, 1);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log();
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(header.map((_, i) => row[i] ?? '')));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
