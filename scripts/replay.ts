// `npm run replay -- FILE`: the loop view over a recording made with
// `npx tsx scripts/server.ts --record FILE`, with no server running. The
// page moves backward and forward through the rounds.

import { RecordingFile } from '../src/view/recording.js';
import { howMany } from '../src/room/plural.js';
import { LoopView } from '../src/view/view.js';
import { parseCommandLine, parseIntegerOption, UsageError } from './options.js';

const HELP = `Usage: npm run replay -- FILE [--port N]

Serves the loop view over a recording made with --record FILE, on 127.0.0.1.
A last line cut short (the server was killed while writing it) is left out,
and the page and this program say so; every whole round before it replays.
Any other line that is not a round of the loop is an error, by its number.
`;

async function main(): Promise<void> {
  const values = parseCommandLine({ port: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, true);
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const file = values.positionals[0];
  if (file === undefined) throw new UsageError('the recording to replay is needed: npm run replay -- FILE');
  const port = parseIntegerOption('--port', values.port, 0, 0, 65535, '0 takes a free port');
  // Read through once, and then a window at a time as the page asks.
  const recording = await RecordingFile.open(file).catch((error: NodeJS.ErrnoException) => {
    throw error.code === undefined ? error : new Error(`Cannot replay ${file}: ${error.code === 'ENOENT' ? 'there is no such file' : error.code}`);
  });
  const view = await LoopView.start({ port, recording });
  const { cut } = recording;
  if (cut) console.log(`The last line of ${file} (line ${cut.line}, ${howMany(cut.bytes, 'byte')}) was cut short: it is left out.`);
  console.log(`Loop view (a replay of ${recording.total} rounds): ${view.url}`);
  console.log('Ctrl-C stops it.');
  process.once('SIGINT', () => {
    view.close();
    recording.close();
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
