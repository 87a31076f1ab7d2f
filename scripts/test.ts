// `npm test`'s test run: Node's test runner on every file test/*.test.ts
// (scripts/test-files.ts lists them: no shell glob, which cmd.exe would
// not expand).
//
//   node --import tsx scripts/test.ts [runner options] [test files]
//   npm test -- [runner options] [test files]
//
// Options (--test-name-pattern=..., --test-only) go to the runner; files
// named (test/wire.test.ts) are run instead of all of them. The exit status
// is the runner's.

import { spawn } from 'node:child_process';
import { TEST_NODE_OPTIONS, testFiles } from './test-files.js';

const given = process.argv.slice(2);
const named = given.filter((arg) => arg.endsWith('.ts'));
const files = named.length > 0 ? named : testFiles();
const options = given.filter((arg) => !arg.endsWith('.ts'));

const runner = spawn(process.execPath, [...TEST_NODE_OPTIONS, '--test-reporter=spec', ...options, ...files], { stdio: 'inherit' });

// Ctrl-C reaches the runner as well as this process: the terminal sends it
// to every process of the foreground job (on Windows, of the console). This
// one waits for the runner, which ends its tests' processes, and then ends
// the same way. A signal sent to this process alone is passed on (POSIX:
// on Windows a signal sent to a process is a forced kill, which would leave
// the runner's children behind).
const waitForTheRunner = () => {};
process.on('SIGINT', waitForTheRunner);
for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (process.platform !== 'win32') runner.kill(signal);
  });
}

runner.once('error', (error) => {
  console.error(`Cannot start the test runner (${process.execPath}): ${error.message}`);
  process.exitCode = 1;
});
runner.once('exit', (code, signal) => {
  if (signal === null) {
    process.exitCode = code ?? 1;
    return;
  }
  // Ended by a signal: so does this process, so that npm and the shell see it.
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
});
