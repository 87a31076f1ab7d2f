// What the system running the tests has: the commands a test runs, real
// signals, what /proc shows. A test that needs one of them is skipped, with
// the reason, where it is missing; the reason is found at once, by running
// the command, never by a test that waits for it and times out.

import { type ChildProcess, type ChildProcessWithoutNullStreams, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WINDOWS = process.platform === 'win32';

/** npm and npx are batch files on Windows (npm.cmd), which Node runs only
 * through a shell (cmd.exe). */
const NPM_COMMANDS = new Set(WINDOWS ? ['npm', 'npx'] : []);

/** How long a command may take to say it is there: a command that hangs
 * (a stub waiting for an install dialog) is as good as missing. */
const PROBE_TIMEOUT_MS = 5000;

/** False if `command args` runs and exits 0 here; else why not, for a
 * skip reason. */
export function doesNotRun(command: string, args: string[]): string | false {
  const probe = NPM_COMMANDS.has(command)
    ? spawnSync(npmCommandLine(command, args), { shell: true, stdio: 'ignore', timeout: PROBE_TIMEOUT_MS })
    : spawnSync(command, args, { stdio: 'ignore', timeout: PROBE_TIMEOUT_MS });
  if (probe.error !== undefined) {
    const code = (probe.error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${command} is not on the PATH` : `${command} does not run here (${code ?? probe.error.message})`;
  }
  if (probe.status !== 0) return `${command} does not run here (${command} ${args.join(' ')} exited ${probe.status ?? probe.signal})`;
  return false;
}

/** Why a test that runs tmux is skipped here, or false. */
export const NO_TMUX = doesNotRun('tmux', ['-V']) && 'tmux is not installed, so there is no terminal to test in';

/** Why a test that runs `sh -c` is skipped here, or false. (Windows has
 * one only with Git's tools on the PATH.) */
export const NO_SH = doesNotRun('sh', ['-c', 'exit 0']);

/** Why a test that needs a FIFO is skipped here, or false: made by
 * mkfifo, as a reader would. Windows has none that Node can open. */
export const NO_FIFO = WINDOWS ? 'Windows has no FIFOs (mkfifo)' : mkfifoDoesNotRun();

function mkfifoDoesNotRun(): string | false {
  const dir = mkdtempSync(join(tmpdir(), 'selectchat-fifo-'));
  try {
    return doesNotRun('mkfifo', [join(dir, 'probe')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why a test about a signal's own behaviour (SIGINT, SIGTERM, SIGUSR2) is
 * skipped here, or false. On Windows, Node sends no signal: `kill()` ends
 * the process at once, whatever the signal's name, and SIGUSR2 throws. */
export const NO_SIGNALS = WINDOWS && 'on Windows every signal a process is sent is a forced kill: there is no SIGINT, SIGTERM or SIGUSR2 to handle';

/** Why a test that reads a process's open descriptors is skipped here, or
 * false: Linux lists them in /proc/PID/fd; macOS and Windows show them to
 * no program without tools of their own. */
export const NO_DESCRIPTOR_LIST = !existsSync('/proc/self/fd') && "this system does not list a process's open descriptors (Linux shows them in /proc/PID/fd)";

/** How many file descriptors a process has open (where NO_DESCRIPTOR_LIST is false). */
export function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Why a test that reads a TCP connection's kernel timers is skipped
 * here, or false: Linux shows them in /proc/net/tcp; other systems show
 * them to no program. */
export const NO_TCP_TIMERS = !existsSync('/proc/net/tcp') && "this system does not show a TCP connection's keepalive timer (Linux shows it in /proc/net/tcp)";

/** Why a test of the server as a background job (`&`, `jobs`, `fg`) is
 * skipped here, or false: it needs tmux and bash, and the server tells a
 * background job from a foreground one by /proc/self/stat (Linux) or by
 * `ps` (macOS). */
export const NO_JOB_CONTROL =
  NO_TMUX ||
  doesNotRun('bash', ['--norc', '--noprofile', '-c', 'exit 0']) ||
  (WINDOWS && 'Windows has no background jobs (&, fg) in its shells') ||
  (!existsSync('/proc/self/stat') && doesNotRun('ps', ['-o', 'pgid=,tpgid=', '-p', String(process.pid)]));

/** `command args` as one line for cmd.exe. The arguments the tests give
 * npm need no quoting; one that would is refused rather than mangled. */
function npmCommandLine(command: string, args: string[]): string {
  for (const arg of args) if (!/^[\w./:=@-]+$/.test(arg)) throw new Error(`${JSON.stringify(arg)} would need quoting for cmd.exe`);
  return [command, ...args].join(' ');
}

/** Spawns npm or npx with piped stdio, through cmd.exe on Windows. */
export function spawnNpm(command: 'npm' | 'npx', args: string[], options: SpawnOptions): ChildProcessWithoutNullStreams {
  const spawnOptions = { ...options, stdio: 'pipe' } as const;
  return NPM_COMMANDS.has(command) ? spawn(npmCommandLine(command, args), { ...spawnOptions, shell: true }) : spawn(command, args, spawnOptions);
}

/** Ends a child process and every process it started: its process group
 * on POSIX (spawned `detached`, it leads one), its tree on Windows, which
 * has no process groups (taskkill /T). A child that leads no group of its
 * own is ended alone. On POSIX a group outlives its leader: it is ended
 * even once the child has exited. */
export function endProcessTree(child: ChildProcess): void {
  if (child.pid === undefined) return;
  if (WINDOWS) {
    // Once the child has exited its pid may be another process's.
    if (child.exitCode !== null || child.signalCode !== null) return;
    spawnSync('taskkill', ['/pid', String(child.pid), '/T', '/F'], { stdio: 'ignore' });
    return;
  }
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}
