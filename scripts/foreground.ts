// The server's console is read only while the server is the terminal's
// foreground job.
//
// A background job that reads its terminal is stopped by the kernel
// (SIGTTIN): `npx tsx scripts/server.ts &` would freeze as soon as the user
// typed the next command. Node cannot ignore SIGTTIN, and catching it makes
// the read retry for ever, so the console is simply not read while the
// process group is not the terminal's foreground group. Linux says which
// group that is in /proc/self/stat; macOS and the BSDs say it through `ps`.
// Windows has no job control: there the console is always read.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startReadingNow, stopReadingNow } from '../src/room/streams.js';

/** How often to look whether the job has been brought to the foreground
 * (`fg` and `bg` also send SIGCONT, which looks at once): from /proc, and
 * from `ps`, which is a process to start each time. */
const CHECK_EVERY_MS = { proc: 250, ps: 1000 };

/** From /proc/self/stat: true, false, or undefined where there is none. */
function foregroundFromProc(): boolean | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // After "pid (command)": state ppid pgrp session tty_nr tpgid ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[2] === fields[5];
  } catch {
    return undefined;
  }
}

/** From `ps` (macOS, the BSDs, Linux alike): this process's group and its
 * terminal's foreground group, compared; undefined if `ps` does not say.
 * Asynchronous: the loop never waits for it. */
export function foregroundFromPs(): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'pgid=,tpgid=', '-p', String(process.pid)], { timeout: 2000 }, (error, stdout) => {
      const fields = error ? [] : stdout.trim().split(/\s+/);
      resolve(fields.length === 2 && /^\d+$/.test(fields[0]!) ? fields[0] === fields[1] : undefined);
    });
  });
}

/** Keeps a terminal `input` unread while this process is in the
 * background, and reads it while in the foreground. */
export function readConsoleOnlyInForeground(input: NodeJS.ReadStream): void {
  if (!input.isTTY || process.platform === 'win32') return;
  const fromProc = foregroundFromProc() !== undefined;
  let reading = true;
  const read = (foreground: boolean) => {
    if (foreground === reading) return;
    reading = foreground;
    if (foreground) startReadingNow(input);
    else stopReadingNow(input);
  };
  let asking = false;
  const check = () => {
    if (fromProc) return read(foregroundFromProc() === true);
    if (asking) return;
    asking = true;
    void foregroundFromPs().then((foreground) => {
      asking = false;
      // Where `ps` cannot say, the console is read, as it was before it was asked.
      read(foreground ?? true);
    });
  };
  // Without /proc, nothing is read until `ps` has said where the job is.
  if (!fromProc) read(false);
  check();
  setInterval(check, fromProc ? CHECK_EVERY_MS.proc : CHECK_EVERY_MS.ps).unref();
  // `bg` and `fg` send SIGCONT: look at once, before the terminal is read again.
  process.on('SIGCONT', check);
}
