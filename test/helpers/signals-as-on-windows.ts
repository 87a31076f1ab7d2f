// Preloaded into a program under test (`node --import` this file): every
// signal it sends a child is a forced kill, as on Windows, where Node ends
// the child at once (TerminateProcess) whatever signal is named. A program
// that still stops its children cleanly does so without signals.

import { ChildProcess } from 'node:child_process';

const kill = ChildProcess.prototype.kill;
ChildProcess.prototype.kill = function killAtOnce(this: ChildProcess): boolean {
  return kill.call(this, 'SIGKILL');
};
