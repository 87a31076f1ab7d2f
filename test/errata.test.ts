// docs/ERRATA.md shows each defect of the original with a block of shell
// commands. This runs every block, in order, in one bash, as a reader
// pasting them would, and checks that each shows what the text says.
//
// The blocks say port 8800, the port `npm start` uses: a reader may well
// have a server of their own there. The test runs them on a free port
// instead, and proves it never reaches 8800: the script it runs no longer
// holds the number, and every Python program it starts refuses to connect
// to or bind port 8800 (a guard loaded before the program, see GUARD).

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT } from './helpers/chat.js';
import { NO_PYTHON3, PYTHON3 } from './helpers/python.js';
import { readRepositoryFile } from './helpers/repository.js';
import { doesNotRun, endProcessTree } from './helpers/system.js';

/** Why the Python original cannot be shown here: the blocks type
 * `python3`, which must run Python 3. */
const noPython =
  (NO_PYTHON3 && `${NO_PYTHON3}, so there is no Python original to show`) ||
  (PYTHON3?.command !== 'python3' && `python3 does not run Python 3 here (${PYTHON3?.command} does), and the blocks type python3`);

/** Why the blocks cannot run here, or false: they are bash, with the
 * procps `ps -C` and coreutils `timeout` of Linux (and WSL). macOS's ps
 * has no -C and it has no timeout; Windows has none of them. */
const noShell =
  doesNotRun('bash', ['--norc', '--noprofile', '-c', 'exit 0']) || doesNotRun('ps', ['-o', 'args=', '-C', 'ps']) || doesNotRun('timeout', ['5', 'true']);
const skip = noPython || (noShell && `${noShell}, and the blocks need bash, ps -C and timeout as Linux has them`);

/** The port the blocks are written with. */
const DOCUMENTED_PORT = 8800;

/** What each block, in order, must print (stdout and stderr together). */
const SHOWS: (RegExp | null)[] = [
  null, // P, start and stop
  /--name server/, // 1. ps shows the spinning server
  null, // 2. alice hangs until timeout gives up
  /IndexError: list index out of range/, // 3.
  /\/tmp\/pwned/, // 4. the file the pickle created
  /--name server/, // 5. ps shows the spinning server
  /Chat server: \d+ hung up/, // 6.
  /Chat server: \d+ hung up/, // 7.
  /IndexError: list index out of range/, // 8.
  /\[bot@127\.0\.0\.1\]> \[bot@127\.0\.0\.1\]> /, // 9.
  /ValueError: file descriptor cannot be a negative integer \(-1\)/, // 16.
];

/** Loaded by every Python the blocks start (Python imports `sitecustomize`
 * from PYTHONPATH before the program): a connect or bind to the documented
 * port fails, and says so where the test looks. */
const GUARD = `import socket, sys
_real_connect, _real_bind = socket.socket.connect, socket.socket.bind
def _refuse(address):
    if isinstance(address, tuple) and len(address) >= 2 and address[1] == ${DOCUMENTED_PORT}:
        sys.stderr.write("TOUCHED PORT ${DOCUMENTED_PORT}\\n")
        raise PermissionError("the test must not use port ${DOCUMENTED_PORT}")
def _connect(self, address):
    _refuse(address)
    return _real_connect(self, address)
def _bind(self, address):
    _refuse(address)
    return _real_bind(self, address)
socket.socket.connect, socket.socket.bind = _connect, _bind
_real_create_connection = socket.create_connection
def _create_connection(address, *args, **kwargs):
    _refuse(address)
    return _real_create_connection(address, *args, **kwargs)
socket.create_connection = _create_connection
`;

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Process groups still running: killed when the file's tests end, however
 * they end (a failure, a timeout), and at exit. */
const groups = new Set<ChildProcess>();
function killGroups(): void {
  for (const leader of groups) endProcessTree(leader);
  groups.clear();
}
after(killGroups);
process.once('exit', killGroups);

test('every command block in docs/ERRATA.md works pasted in order, on a free port', { skip, timeout: 90_000 }, async (t) => {
  const blocks = [...readRepositoryFile('docs/ERRATA.md').matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
  assert.equal(blocks.length, SHOWS.length, 'a check for each block');
  const documented = blocks.join('\n').split(String(DOCUMENTED_PORT)).length - 1;
  assert.ok(documented >= 10, `the blocks name port ${DOCUMENTED_PORT} (${documented} times)`);
  assert.match(
    readRepositoryFile('test/interop/chat_server_with_select.py'),
    /'--port'.*required=True/,
    'the Python program has no port of its own to fall back on',
  );

  const port = await freePort();
  const script = ['exec 2>&1', ...blocks.flatMap((block, i) => [block, `echo "=== end of block ${i}"`])]
    .join('\n')
    .replaceAll(String(DOCUMENTED_PORT), String(port));
  assert.doesNotMatch(script, new RegExp(String(DOCUMENTED_PORT)), `nothing left on port ${DOCUMENTED_PORT}`);

  const guard = mkdtempSync(join(tmpdir(), 'selectchat-errata-'));
  t.after(() => rmSync(guard, { recursive: true, force: true }));
  writeFileSync(join(guard, 'sitecustomize.py'), GUARD);

  // Its own process group, so that everything the blocks start in the
  // background goes with it, whatever happens to the test.
  const bash = spawn('bash', ['--norc', '--noprofile', '-c', script], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, PYTHONPATH: guard },
  });
  groups.add(bash);
  t.signal.addEventListener('abort', killGroups);
  let output = '';
  bash.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  const [code] = await new Promise<[number | null]>((resolve) => bash.once('exit', (exitCode) => resolve([exitCode])));
  // What a block left behind (the `sleep 60` holding a console) goes too.
  killGroups();
  // What a block shows comes after the end of the block before it: a
  // server in the background may print a moment after its block ended.
  const from = (block: number) => (block === 0 ? 0 : output.indexOf(`=== end of block ${block - 1}\n`));
  assert.equal(code, 0, output);
  assert.doesNotMatch(output, /Address already in use|ConnectionRefusedError|command not found|BrokenPipeError|TOUCHED PORT/);
  assert.ok(output.includes(`--port ${port}`), `the servers ran on port ${port}:\n${output}`);
  SHOWS.forEach((expected, i) => {
    if (expected !== null) assert.match(output.slice(from(i)), expected, `block ${i} shows what the text says:\n${output.slice(from(i))}`);
  });
});

test('docs/ERRATA.md says, before its first block, that the blocks use port 8800 and to stop your own server first', () => {
  const doc = readRepositoryFile('docs/ERRATA.md');
  const beforeBlocks = doc.slice(0, doc.indexOf('```sh'));
  assert.match(beforeBlocks, new RegExp(`the blocks use port ${DOCUMENTED_PORT}`));
  assert.match(beforeBlocks, /Stop your own server first, or change \d+ in every\s+block to a free port/);
});

test('the guard refuses port 8800 to the Python programs the blocks start', { skip: noPython }, () => {
  // Proves the guard above works, without touching port 8800: the refusal
  // comes before any socket call reaches the kernel.
  const guard = mkdtempSync(join(tmpdir(), 'selectchat-errata-'));
  try {
    writeFileSync(join(guard, 'sitecustomize.py'), GUARD);
    const python = spawnSync(
      'python3',
      [
        '-c',
        `import socket
for attempt in (lambda: socket.create_connection(('127.0.0.1', ${DOCUMENTED_PORT})), lambda: socket.socket().bind(('127.0.0.1', ${DOCUMENTED_PORT}))):
    try:
        attempt(); print('reached')
    except PermissionError: print('refused')`,
      ],
      { env: { ...process.env, PYTHONPATH: guard }, encoding: 'utf8' },
    );
    assert.equal(python.stdout, 'refused\nrefused\n', python.stderr);
  } finally {
    rmSync(guard, { recursive: true, force: true });
  }
});
