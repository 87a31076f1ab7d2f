// Shared by the command lines: reading the flags, and saying in one line,
// the same way in both programs, what is wrong with them.

import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Something wrong with the command line: printed as one line that points
 * to --help, and exit code 1. */
export class UsageError extends Error {
  constructor(problem: string) {
    super(`${problem} (see --help)`);
  }
}

/** `parseArgs`, with its errors turned into one line each. */
export function parseCommandLine<T extends NonNullable<ParseArgsConfig['options']>>(
  options: T,
): ReturnType<typeof parseArgs<{ options: T; strict: true }>>['values'];
export function parseCommandLine<T extends NonNullable<ParseArgsConfig['options']>>(
  options: T,
  positionals: true,
): ReturnType<typeof parseArgs<{ options: T; strict: true }>>['values'] & { positionals: string[] };
export function parseCommandLine<T extends NonNullable<ParseArgsConfig['options']>>(options: T, positionals = false) {
  const takenByNpm = optionsTakenByNpm(options);
  if (takenByNpm) throw new UsageError(takenByNpm);
  try {
    const parsed = parseArgs({ options, strict: true, allowPositionals: positionals });
    return positionals ? { ...parsed.values, positionals: parsed.positionals } : parsed.values;
  } catch (error) {
    throw new UsageError(usageProblem(error as Error & { code?: string }));
  }
}

/** `npm run client --name alice` (the `--` forgotten) gives the program
 * nothing: npm reads `--name alice` as a setting of its own and hands it
 * over only as the variable npm_config_name=alice (and `npm start --port 0`
 * leaves the program a lone `0`: npm takes `--port` as a flag, set to
 * "true"). The program would then complain about a missing --name or a
 * stray 0. This sees it and says what to type instead, with the options
 * that did come after `--` too, or returns null. What it says to type is
 * the program without npm (`npx tsx scripts/client.ts --name alice`), not
 * `npm run client -- ...`: in PowerShell, npm's shim has dropped the `--`
 * in several npm versions, and that is the very command typed. */
function optionsTakenByNpm(options: NonNullable<ParseArgsConfig['options']>): string | null {
  const { npm_lifecycle_event: event, npm_lifecycle_script: script } = process.env;
  // Only when npm runs this very program: the tests' children, say, inherit
  // npm's variables from `npm test`.
  const program = process.argv[1]?.split(/[\\/]/).slice(-2).join('/');
  if (event === undefined || program === undefined || !script?.includes(program)) return null;
  // npm hands over the words it did not take first (the `0` of `--port 0`),
  // then whatever came after `--`.
  const args = process.argv.slice(2);
  let strays = 0;
  const stray = () => (args[strays] !== undefined && !args[strays]!.startsWith('-') ? args[strays++]! : '...');
  const taken: string[] = [];
  for (const [name, option] of Object.entries(options)) {
    const value = process.env[`npm_config_${name.replaceAll('-', '_')}`];
    if (value === undefined || args.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`))) continue;
    if (option.type === 'boolean') taken.push(`--${name}`);
    else if (value !== 'true') taken.push(`--${name}`, value);
    else taken.push(`--${name}`, stray());
  }
  if (taken.length === 0) return null;
  // The script npm runs ("tsx scripts/client.ts"), with npx to find tsx.
  const command = script.replace(/^tsx /, 'npx tsx ');
  const words = (list: string[]) => list.map(shellWord).join(' ');
  return `npm took ${words(taken)} for itself; in any shell, type: ${command} ${words([...taken, ...args.slice(strays)])}`;
}

/** A word as a shell reads it back: as it is if it holds only plain
 * characters; else in double quotes, which PowerShell, cmd.exe and POSIX
 * shells all take, when it holds nothing any of them would expand there;
 * else in a POSIX shell's single quotes. */
function shellWord(word: string): string {
  if (/^[\w+=:./-]+$/.test(word)) return word;
  if (!/["$`!%\\]/.test(word)) return `"${word}"`;
  return `'${word.replaceAll("'", "'\\''")}'`;
}

function usageProblem(error: Error & { code?: string }): string {
  const flag = /'(-[\w-]+)/.exec(error.message)?.[1] ?? '';
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${flag}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      // Node says "ambiguous" for `--port -1`: the value looks like a flag.
      return /ambiguous/.test(error.message) ? `${flag} needs a value; one that starts with "-" is written ${flag}=-1` : `${flag} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(error.message)?.[1] ?? ''}: every option starts with --`;
    default:
      return error.message;
  }
}

/** A whole number from a flag, or the fallback when the flag is absent.
 * `range` says why the bounds are what they are, when that is not obvious. */
export function parseIntegerOption(flag: string, value: string | undefined, fallback: number, min: number, max: number, range = ''): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw new UsageError(`${flag} takes a whole number from ${min} to ${max}${range ? ` (${range})` : ''}, not "${value}"`);
  }
  return number;
}
