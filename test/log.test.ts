// The log writer against an output that takes nothing: a FIFO nobody reads.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LogWriter } from '../src/room/log.js';
import { NO_FIFO } from './helpers/system.js';

/** A FIFO opened for writing (O_RDWR, so that opening does not wait for a
 * reader) and a function that reads everything written to it so far. */
function stalledOutput() {
  const dir = mkdtempSync(join(tmpdir(), 'selectchat-log-'));
  const path = join(dir, 'fifo');
  execFileSync('mkfifo', [path]);
  const fd = openSync(path, constants.O_RDWR);
  return {
    fd,
    /** Reads until `done` says the text so far is complete. The reads do
     * not block: the writer's callbacks must run meanwhile. */
    async readUntil(done: (text: string) => boolean): Promise<string> {
      const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      const buffer = Buffer.alloc(64 * 1024);
      let text = '';
      try {
        while (!done(text)) {
          try {
            const read = readSync(reader, buffer);
            text += buffer.subarray(0, read).toString('utf8');
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
        return text;
      } finally {
        closeSync(reader);
      }
    },
    close() {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    },
  };
}

test('lines never block the caller; past the queue they are dropped, counted, and reported in their place', { skip: NO_FIFO }, async () => {
  const output = stalledOutput();
  const log = new LogWriter(output.fd, 4096);
  const line = (n: number) => `line ${String(n).padStart(5, '0')} ${'.'.repeat(80)}`;
  // A pipe holds 64 KiB; 2,000 lines of 92 bytes are three times that.
  const started = Date.now();
  for (let n = 0; n < 2000; n++) log.line(line(n));
  assert.ok(Date.now() - started < 1000, 'writing lines to a stalled output returned at once');
  // The output takes lines again: everything kept arrives, in order, with
  // one line where the dropped ones were.
  const text = await output.readUntil((so) => so.includes('\n(') && so.endsWith('\n'));
  const lines = text.trimEnd().split('\n');
  const note = lines.findIndex((each) => each.startsWith('('));
  const dropped = Number(/^\(([\d,]+) log lines dropped: the output was not taking them\)$/.exec(lines[note]!)![1]!.replaceAll(',', ''));
  const kept = lines.filter((each) => !each.startsWith('('));
  assert.equal(kept.length + dropped, 2000, 'every line is either written or counted');
  assert.deepEqual(
    kept,
    kept.map((_, i) => line(i)),
    'the kept lines are the first ones, in order',
  );
  // A line after the stall is written normally.
  log.line('after');
  assert.equal(await output.readUntil((so) => so.endsWith('after\n')), 'after\n');
  await log.flushed(1000);
  output.close();
});
