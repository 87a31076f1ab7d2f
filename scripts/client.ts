// The chat client's command line: `npm run client -- --name alice`, or
// `npx tsx scripts/client.ts --help`.

import { CLIENT_MAX_FRAME_SIZE, ChatClient, DEFAULT_HANDSHAKE_TIMEOUT_MS, EXIT_READER_GONE } from '../src/room/client.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../src/wire/wire.js';
import { parseCommandLine, parseIntegerOption, UsageError } from './options.js';

const HELP = `Usage: npx tsx scripts/client.ts --name NAME [options]
       (or: npm run client -- --name NAME [options])

The select() chat client: type a line and press Enter to send it; messages
from the others appear as they come, above the line you are typing.

Options:
  --name NAME              your name in the chat (required)
  --port N                 the server's port (default 8800)
  --host HOST              the server's host (default 127.0.0.1)
  --pickle-shape str|tuple what to pickle: the bare string, as the recipe does
                           (default), or a 1-tuple holding it, as the book's
                           second edition does
  --max-frame-size N       largest frame accepted from the server, in bytes
                           (default ${CLIENT_MAX_FRAME_SIZE})
  --server-max-frame-size N
                           the server's frame limit (its --max-frame-size), in
                           bytes (default ${DEFAULT_MAX_FRAME_SIZE}, the server's default):
                           a line the server would relay as a larger frame
                           ("\\n#[name@address]>>line", pickled) is not sent; the
                           reason goes to stderr and the next lines go on. If
                           a server with a smaller limit drops this client
                           for a frame over it, the reason says which value
                           to give here
  --handshake-timeout S    seconds to connect and for the server to answer the
                           name (default ${DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000}, as the server's own)
  --wait S                 if no server listens yet, keep trying for up to S
                           seconds (default 0: try once)
  --trace                  print each round of the select() loop on stderr
  -h, --help               show this help

Ctrl-C leaves at once. Ctrl-Z stops the client (and npx and tsx before it)
as it stops any program; after fg the half-typed line is back as it was,
ready to type. A terminal resized while you type (or while the client is
stopped) gets the line drawn again once at its new width. With input from a pipe, every line is sent; at the
end of the input the client ends its output and leaves once the server has
closed in turn, having read everything, however long the room takes:
printf 'hi\\n' | npx tsx scripts/client.ts --name bot
Messages are shown as text: control characters a peer sends (escape
sequences, carriage returns...) appear as ^[ or <U+202E>, never obeyed,
whether the output is a terminal or a pipe.
Exit code 0, or 1 with the reason in one line on stderr: the server cannot
be reached, does not answer the name in time, refuses this client (a full
room, a name in use...), drops it, sends something malformed, or goes away
before it has taken every line (the line says how many had not left); or a
line was not delivered (too long, or not relayed by the server: each one is
named on stderr as it happens, and the client goes on).
Exit code ${EXIT_READER_GONE}, and nothing said, when the reader of its output (or of its
error output) stops reading and goes, as in ... | head -n 2: the status the
shell shows for cat ended by SIGPIPE.
`;

async function main(): Promise<number> {
  const values = parseCommandLine({
    name: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'pickle-shape': { type: 'string' },
    'max-frame-size': { type: 'string' },
    'server-max-frame-size': { type: 'string' },
    'handshake-timeout': { type: 'string' },
    wait: { type: 'string' },
    trace: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const name = values.name?.trim();
  if (!name) throw new UsageError('--name is required');
  const shape = values['pickle-shape'] ?? 'str';
  if (shape !== 'str' && shape !== 'tuple') throw new UsageError(`--pickle-shape is str or tuple, not "${shape}"`);
  const client = new ChatClient({
    name,
    port: parseIntegerOption('--port', values.port, 8800, 1, 65535, "the server's port"),
    host: values.host ?? '127.0.0.1',
    shape,
    input: process.stdin,
    output: process.stdout,
    errors: process.stderr,
    waitMs: 1000 * parseIntegerOption('--wait', values.wait, 0, 0, 3600),
    maxFrameSize: parseIntegerOption('--max-frame-size', values['max-frame-size'], CLIENT_MAX_FRAME_SIZE, 16, 0xffffffff),
    serverMaxFrameSize: parseIntegerOption('--server-max-frame-size', values['server-max-frame-size'], DEFAULT_MAX_FRAME_SIZE, 64, 0xffffffff),
    handshakeTimeoutMs: 1000 * parseIntegerOption('--handshake-timeout', values['handshake-timeout'], DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000, 1, 3600),
    trace: values.trace ? (line) => process.stderr.write(`${line}\n`) : null,
  });
  if (!(await client.connect())) return client.notConnected();
  return client.run();
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // A usage error is one line, not a stack trace.
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
