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
  try {
    const parsed = parseArgs({ options, strict: true, allowPositionals: positionals });
    return positionals ? { ...parsed.values, positionals: parsed.positionals } : parsed.values;
  } catch (error) {
    throw new UsageError(usageProblem(error as Error & { code?: string }));
  }
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
