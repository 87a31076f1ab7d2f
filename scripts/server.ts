// The chat server's command line: `npm start`, or `npx tsx scripts/server.ts --help`.

import { createInterface } from 'node:readline';
import { LoopHold } from '../src/view/hold.js';
import { LogWriter } from '../src/room/log.js';
import { checkRecordingName, createRecording, RecordingWriter } from '../src/view/recording.js';
import { ChatServer, DEFAULT_SERVER_OPTIONS, STOP_SIGNALS } from '../src/room/server.js';
import type { Round } from '../src/view/trace.js';
import { LoopView } from '../src/view/view.js';
import { readConsoleOnlyInForeground } from './foreground.js';
import { parseCommandLine, parseIntegerOption } from './options.js';

const defaults = DEFAULT_SERVER_OPTIONS;

const HELP = `Usage: npx tsx scripts/server.ts [options]   (or: npm start -- [options])

The select() chat server. Clients connect with scripts/client.ts, or with the
Python original.

Options:
  --port N                port to listen on (default ${defaults.port}; 0 takes a free port)
  --host ADDRESS          address to listen on (default ${defaults.host})
  --backlog N             connections the kernel queues before they are accepted
                          (default ${defaults.backlog})
  --handshake-timeout S   seconds a new client has to send "NAME: <name>"
                          (default ${defaults.handshakeTimeoutMs / 1000})
  --frame-timeout S       seconds a client has to finish a frame it has begun
                          (default ${defaults.frameTimeoutMs / 1000})
  --max-frame-size N      largest frame received or sent, in bytes; a line
                          that would be relayed larger is refused
                          (default ${defaults.maxFrameSize})
  --max-handshake-size N  largest first frame ("NAME: <name>"), in bytes
                          (default ${defaults.maxHandshakeSize})
  --max-name-length N     longest name accepted, in characters (default ${defaults.maxNameLength}).
                          A name in use is refused, compared after Unicode
                          normalization (NFKC) and case folding, so "Zoë" and
                          "ZOË" are one name. Names may not hold control,
                          formatting or invisible (default-ignorable)
                          characters, line or paragraph separators, "@", "["
                          or "]"; must show something (U+2800 and Hangul
                          fillers are blank); and may not mix scripts, as
                          Unicode's "highly restrictive" profile says (Latin
                          with Cyrillic or Greek is refused; Latin with
                          Chinese, Japanese or Korean is fine): with them one
                          user could pose as another. Control characters in
                          chat lines are relayed visibly (ESC as ^[, U+202E
                          as <U+202E>), never as themselves.
  --max-clients N         connections in the room at once, named or in the
                          handshake; a newcomer past it is told the room is
                          full (default ${defaults.maxClients}). Sockets open never exceed
                          N plus a reserve of N, at most 64, for telling
                          newcomers why and for connections closing; past
                          that, the last line of defence: Node closes a
                          newcomer at once, unread, and it is told nothing
                          (it sees the connection reset or closed)
  --max-per-address N     connections in the room from one address, this
                          machine's own (127.0.0.0/8, ::1) included; 0 for no
                          limit (default: half of --max-clients, at most 64,
                          at least 1, for every address but this machine's,
                          which has no limit, as IRC servers leave localhost
                          alone). Half, so that one host cannot take a room of
                          any size; 64, so that a class behind one address (a
                          school's NAT) fits in the default room
  --keepalive S           seconds a connection may be silent before the kernel
                          asks the peer whether it is still there (TCP
                          keepalive); 10 unanswered probes 1 s apart later the
                          connection fails and its hang-up is announced. 0 for
                          none (default ${defaults.keepaliveMs / 1000})
  --input-budget N        bytes of input held for all clients together; past
                          it, reading stops and the client with the largest
                          unfinished frame is dropped (default ${defaults.inputBudget})
  --output-soft-limit N   bytes of output waiting for a client that make it
                          congested: other clients' lines wait until it drains
                          (default ${defaults.outputSoftLimit})
  --output-hard-limit N   bytes of output waiting that get a client dropped at
                          once (default ${defaults.outputHardLimit})
  --slow-client-grace S   seconds a congested client's waiting output may go
                          without falling before it is dropped (default ${defaults.slowClientGraceMs / 1000})
  --trace                 print each round of the select() loop on stderr:
                          what select() was given, what came back, what was done
  --view PORT             serve the loop view, live, on 127.0.0.1:PORT (0 takes
                          a free port): a page that shows every round and can
                          pause and step the loop; it prints the address
  --record FILE           write every round of the loop to FILE, one JSON line
                          each, for \`npm run replay -- FILE\`. FILE must be
                          new: an existing file (or link) is never written
                          over. On macOS and Linux it is readable by its
                          owner only: it holds everyone's chat (on Windows it
                          gets its folder's permissions). It is created once
                          the server listens: a start that fails leaves no
                          FILE. If
                          FILE cannot grow (a full disk, a file-size limit),
                          the recording stops, FILE is cut back to its last
                          whole round, one line says so, and the chat goes on
  -h, --help              show this help

Once listening it prints "Server listening to port: <port> ...".
It stops on Ctrl-C (SIGINT), SIGTERM, SIGHUP, or any line typed on its
console; a second signal while it closes ends it at once. End of input on its
console (</dev/null) does not stop it, and started in the background (&) it
does not read its console until brought to the foreground. A console it
cannot read (nohup's write-only /dev/null) is no console: it says so once
and serves on. SIGUSR1 is logged and ignored: the server opens no debugger
unless started for debugging (npm run debug:server).
See README.md for the exit status of each way of stopping it.
`;

async function main(): Promise<void> {
  const values = parseCommandLine({
    port: { type: 'string' },
    host: { type: 'string' },
    backlog: { type: 'string' },
    'handshake-timeout': { type: 'string' },
    'frame-timeout': { type: 'string' },
    'max-frame-size': { type: 'string' },
    'max-handshake-size': { type: 'string' },
    'input-budget': { type: 'string' },
    'max-name-length': { type: 'string' },
    'max-clients': { type: 'string' },
    keepalive: { type: 'string' },
    'max-per-address': { type: 'string' },
    'output-soft-limit': { type: 'string' },
    'output-hard-limit': { type: 'string' },
    'slow-client-grace': { type: 'string' },
    trace: { type: 'boolean' },
    view: { type: 'string' },
    record: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const port = parseIntegerOption('--port', values.port, defaults.port, 0, 65535, '0 takes a free port');
  const host = values.host ?? defaults.host;
  const maxFrameSize = parseIntegerOption('--max-frame-size', values['max-frame-size'], defaults.maxFrameSize, 16, 0xffffffff);
  const log = new LogWriter(1);
  // The trace shares the log's queue: the two read in one order in a terminal.
  const trace = values.trace ? log.to(2) : null;
  const viewPort = values.view === undefined ? undefined : parseIntegerOption('--view', values.view, 0, 0, 65535, '0 takes a free port');
  // A name in use is refused now; the file itself is created last, once
  // the server listens, so that a start that fails leaves no file behind.
  const recordTo = values.record;
  if (recordTo !== undefined) checkRecordingName(recordTo);
  let record: RecordingWriter | undefined;
  // What the server says as it starts ("Server listening to port: ...")
  // waits until the start is over, the recording's file created and the
  // signals handled: a start that fails says only why.
  let starting: string[] | null = [];
  const say = (line: string) => (starting ? starting.push(line) : log.line(line));
  const hold = viewPort === undefined ? null : new LoopHold();
  // The view first: a port it cannot have ends the start before the chat
  // server listens. It asks the server for the queue only once it runs.
  let server: ChatServer | undefined;
  const view = hold && (await startView(viewPort!, hold, () => server?.queued() ?? []));
  const rounds: ((round: Round) => void)[] = [];
  if (recordTo !== undefined) rounds.push((round) => record?.add(round));
  if (view) rounds.push(view.add);
  server = await ChatServer.listen({
    port,
    host,
    backlog: parseIntegerOption('--backlog', values.backlog, defaults.backlog, 1, 65535),
    handshakeTimeoutMs: 1000 * parseIntegerOption('--handshake-timeout', values['handshake-timeout'], defaults.handshakeTimeoutMs / 1000, 1, 3600),
    frameTimeoutMs: 1000 * parseIntegerOption('--frame-timeout', values['frame-timeout'], defaults.frameTimeoutMs / 1000, 1, 3600),
    maxFrameSize,
    maxHandshakeSize: parseIntegerOption('--max-handshake-size', values['max-handshake-size'], defaults.maxHandshakeSize, 64, maxFrameSize),
    inputBudget: parseIntegerOption('--input-budget', values['input-budget'], defaults.inputBudget, maxFrameSize, 2 ** 40),
    maxNameLength: parseIntegerOption('--max-name-length', values['max-name-length'], defaults.maxNameLength, 1, 1024),
    maxClients: parseIntegerOption('--max-clients', values['max-clients'], defaults.maxClients, 1, 1_000_000),
    // 32767 s is the longest idle time Linux accepts (TCP_KEEPIDLE).
    keepaliveMs: 1000 * parseIntegerOption('--keepalive', values.keepalive, defaults.keepaliveMs / 1000, 0, 32767, '0 for none'),
    maxPerAddress:
      values['max-per-address'] === undefined
        ? defaults.maxPerAddress
        : parseIntegerOption('--max-per-address', values['max-per-address'], 0, 0, 1_000_000, '0 for no limit'),
    outputSoftLimit: parseIntegerOption('--output-soft-limit', values['output-soft-limit'], defaults.outputSoftLimit, 1024, 2 ** 32),
    outputHardLimit: parseIntegerOption('--output-hard-limit', values['output-hard-limit'], defaults.outputHardLimit, 1024, 2 ** 32),
    slowClientGraceMs: 1000 * parseIntegerOption('--slow-client-grace', values['slow-client-grace'], defaults.slowClientGraceMs / 1000, 1, 3600),
    // terminal: false leaves a terminal in its usual mode, so Ctrl-C is a
    // real SIGINT and the terminal itself does the line editing.
    console: createInterface({ input: process.stdin, terminal: false }),
    log: say,
    trace,
    onRound:
      rounds.length === 0
        ? null
        : (round) => {
            for (const take of rounds) take(round);
          },
    hold,
  }).catch((error: NodeJS.ErrnoException) => {
    view?.close();
    const reason = error.code === 'EADDRINUSE' ? `port ${port} is already in use` : error.message;
    throw new Error(`Cannot listen on ${host}:${port}: ${reason}`);
  });
  if (recordTo !== undefined) {
    try {
      record = new RecordingWriter(recordTo, createRecording(recordTo), log.line);
    } catch (error) {
      // Taken since it was checked: nothing has run yet, and nobody is served.
      view?.close();
      server.server.close();
      throw error;
    }
  }
  if (view) say(`Loop view: ${view.url}`);
  readConsoleOnlyInForeground(process.stdin);
  // The server stops on the first of these signals; a second one, while it
  // closes, ends the process at once.
  let signalled = false;
  const hurry = () => {
    if (signalled) process.exit();
    signalled = true;
  };
  for (const signal of STOP_SIGNALS) process.on(signal, hurry);
  ignoreDebuggerSignal(log.line);
  // Said only now, so that a signal sent as soon as the server says it
  // listens finds it ready to stop cleanly.
  for (const line of starting) log.line(line);
  starting = null;
  await server.run();
  view?.close();
  // The last lines get a moment to leave, even to an output that stalls.
  await Promise.all([log.flushed(1000), record?.flushed(1000)]);
  // Nothing else should be left to keep the process alive: stdin is closed
  // with the console and every socket with its client; the signal handlers
  // and the foreground check do not hold it.
}

/** Node opens its debugger on SIGUSR1, on 127.0.0.1:9229, to every local
 * user; many servers take USR1 to mean "reopen the logs". A listener of
 * our own turns Node's off: the server opens a debugger only when started
 * for debugging (`npm run debug:server`, whose --inspect-brk opened it at
 * start). Windows has no SIGUSR1. */
function ignoreDebuggerSignal(log: (line: string) => void): void {
  if (process.platform === 'win32') return;
  process.on('SIGUSR1', () => log('Chat server: SIGUSR1 ignored (this server opens no debugger; see README)'));
}

function startView(port: number, hold: LoopHold, queued: () => ReturnType<ChatServer['queued']>): Promise<LoopView> {
  return LoopView.start({ port, hold, queued }).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`Cannot serve the loop view on 127.0.0.1:${port}: ${error.code === 'EADDRINUSE' ? `port ${port} is already in use` : error.message}`);
  });
}

main().catch((error: unknown) => {
  // A start-up failure is one line, not a stack trace.
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
  process.stdin.destroy();
});
