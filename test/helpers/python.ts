// Python 3, found by running it: the tests that talk to the Python
// original (test/interop/) need one that runs.
//
// A command named python3 is not enough: Windows answers `python3` with a
// store alias that runs nothing, and macOS without its developer tools has
// a /usr/bin/python3 stub that only offers to install them. So each
// candidate is asked to run one line of Python and must print 3.

import { spawnSync } from 'node:child_process';

/** How long a candidate may take to answer: a stub that waits for a
 * dialog is as good as missing. */
const PROBE_TIMEOUT_MS = 5000;

/** The commands that start Python 3 on each system, in the order tried:
 * Windows' installer puts `python` and the `py` launcher on the PATH, not
 * `python3`. */
const CANDIDATES: [string, ...string[]][] = process.platform === 'win32' ? [['python3'], ['python'], ['py', '-3']] : [['python3']];

/** A command that runs Python 3: the command, and the arguments before the script. */
export type PythonCommand = { command: string; args: string[] };

function find(): { python: PythonCommand } | { reason: string } {
  const tried: string[] = [];
  for (const [command, ...args] of CANDIDATES) {
    const probe = spawnSync(command, [...args, '-c', 'import sys; print(sys.version_info[0])'], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS });
    if (probe.error === undefined && probe.status === 0 && probe.stdout.trim() === '3') return { python: { command, args } };
    const code = (probe.error as NodeJS.ErrnoException | undefined)?.code;
    const said = code === 'ENOENT' ? 'not on the PATH' : code === 'ETIMEDOUT' ? 'no answer' : 'runs no Python 3';
    tried.push(`${[command, ...args].join(' ')}: ${said}`);
  }
  return { reason: `no Python 3 runs here (${tried.join('; ')})` };
}

const found = find();

/** How to start Python 3 here, if it runs. */
export const PYTHON3: PythonCommand | undefined = 'python' in found ? found.python : undefined;

/** Why a test that runs Python 3 is skipped here, or false. */
export const NO_PYTHON3: string | false = 'reason' in found && found.reason;
