// The server's console is read only while the server is the terminal's
// foreground job.
//
// A background job that reads its terminal is stopped by the kernel
// (SIGTTIN): `npx tsx scripts/server.ts &` would freeze as soon as the user
// typed the next command. Node cannot ignore SIGTTIN, and catching it makes
// the read retry for ever, so the console is simply not read while the
// process group is not the terminal's foreground group. Linux says which
// group that is in /proc/self/stat; elsewhere the console is always read.

import { readFileSync } from 'node:fs';
import { startReadingNow, stopReadingNow } from '../src/streams.js';

/** How often to look whether the job has been brought to the foreground. */
const CHECK_EVERY_MS = 250;

/** True, false, or undefined where the system does not say. */
function inForeground(): boolean | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // After "pid (command)": state ppid pgrp session tty_nr tpgid ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[2] === fields[5];
  } catch {
    return undefined;
  }
}

/** Keeps a terminal `input` unread while this process is in the
 * background, and reads it while in the foreground. */
export function readConsoleOnlyInForeground(input: NodeJS.ReadStream): void {
  if (!input.isTTY || inForeground() === undefined) return;
  let reading = true;
  const check = () => {
    const foreground = inForeground() === true;
    if (foreground === reading) return;
    reading = foreground;
    if (foreground) startReadingNow(input);
    else stopReadingNow(input);
  };
  check();
  setInterval(check, CHECK_EVERY_MS).unref();
  // `bg` sends SIGCONT: look at once, before the terminal is read again.
  process.on('SIGCONT', check);
}
