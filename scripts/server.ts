// The chat server's command line: `npm start`, or `npx tsx scripts/server.ts --help`.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ChatServer, DEFAULT_SERVER_OPTIONS } from '../src/server.js';
import { parseIntegerOption } from './options.js';

const HELP = `Usage: npx tsx scripts/server.ts [options]   (or: npm start -- [options])

The select() chat server. Clients connect with scripts/client.ts, or with the
Python original.

Options:
  --port N                port to listen on (default ${DEFAULT_SERVER_OPTIONS.port}; 0 takes a free port)
  --host ADDRESS          address to listen on (default ${DEFAULT_SERVER_OPTIONS.host})
  --backlog N             connections the kernel queues before they are accepted
                          (default ${DEFAULT_SERVER_OPTIONS.backlog})
  --handshake-timeout S   seconds a new client has to send "NAME: <name>"
                          (default ${DEFAULT_SERVER_OPTIONS.handshakeTimeoutMs / 1000})
  --max-frame-size N      largest frame accepted, in bytes (default ${DEFAULT_SERVER_OPTIONS.maxFrameSize})
  --max-name-length N     longest name accepted, in characters (default ${DEFAULT_SERVER_OPTIONS.maxNameLength})
  --max-clients N         connections at once; a newcomer past it is closed
                          (default ${DEFAULT_SERVER_OPTIONS.maxClients})
  --output-soft-limit N   bytes of output waiting for a client that make it
                          congested: other clients' lines wait until it drains
                          (default ${DEFAULT_SERVER_OPTIONS.outputSoftLimit})
  --output-hard-limit N   bytes of output waiting that get a client dropped at
                          once (default ${DEFAULT_SERVER_OPTIONS.outputHardLimit})
  --slow-client-grace S   seconds a congested client may go without reading
                          before it is dropped (default ${DEFAULT_SERVER_OPTIONS.slowClientGraceMs / 1000})
  --trace                 print each round of the select() loop on stderr:
                          what select() was given, what came back, what was done
  -h, --help              show this help

Once listening it prints "Server listening to port: <port> ...".
It stops on Ctrl-C (SIGINT), SIGTERM, or any line typed on its console;
end of input on its console (</dev/null, or started in the background) does
not stop it.
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      backlog: { type: 'string' },
      'handshake-timeout': { type: 'string' },
      'max-frame-size': { type: 'string' },
      'max-name-length': { type: 'string' },
      'max-clients': { type: 'string' },
      'output-soft-limit': { type: 'string' },
      'output-hard-limit': { type: 'string' },
      'slow-client-grace': { type: 'string' },
      trace: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const port = parseIntegerOption('--port', values.port, DEFAULT_SERVER_OPTIONS.port, 0, 65535);
  const host = values.host ?? DEFAULT_SERVER_OPTIONS.host;
  const server = await ChatServer.listen({
    port,
    host,
    backlog: parseIntegerOption('--backlog', values.backlog, DEFAULT_SERVER_OPTIONS.backlog, 1, 65535),
    handshakeTimeoutMs:
      1000 * parseIntegerOption('--handshake-timeout', values['handshake-timeout'], DEFAULT_SERVER_OPTIONS.handshakeTimeoutMs / 1000, 1, 3600),
    maxFrameSize: parseIntegerOption('--max-frame-size', values['max-frame-size'], DEFAULT_SERVER_OPTIONS.maxFrameSize, 16, 0xffffffff),
    maxNameLength: parseIntegerOption('--max-name-length', values['max-name-length'], DEFAULT_SERVER_OPTIONS.maxNameLength, 1, 1024),
    maxClients: parseIntegerOption('--max-clients', values['max-clients'], DEFAULT_SERVER_OPTIONS.maxClients, 1, 1_000_000),
    outputSoftLimit: parseIntegerOption('--output-soft-limit', values['output-soft-limit'], DEFAULT_SERVER_OPTIONS.outputSoftLimit, 1024, 2 ** 32),
    outputHardLimit: parseIntegerOption('--output-hard-limit', values['output-hard-limit'], DEFAULT_SERVER_OPTIONS.outputHardLimit, 1024, 2 ** 32),
    slowClientGraceMs:
      1000 * parseIntegerOption('--slow-client-grace', values['slow-client-grace'], DEFAULT_SERVER_OPTIONS.slowClientGraceMs / 1000, 1, 3600),
    // terminal: false leaves a terminal in its usual mode, so Ctrl-C is a
    // real SIGINT and the terminal itself does the line editing.
    console: createInterface({ input: process.stdin, terminal: false }),
    trace: values.trace ? (line) => process.stderr.write(`${line}\n`) : null,
  }).catch((error: NodeJS.ErrnoException) => {
    const reason = error.code === 'EADDRINUSE' ? `port ${port} is already in use` : error.message;
    throw new Error(`Cannot listen on ${host}:${port}: ${reason}`);
  });
  await server.run();
  // Nothing else should be left to keep the process alive: stdin is closed
  // with the console and every socket with its client.
}


main().catch((error: unknown) => {
  // A start-up failure is one line, not a stack trace.
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
  process.stdin.destroy();
});
