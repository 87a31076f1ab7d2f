// Counts in words, one way everywhere: "1 connection", "2,750 connections".
// Every count in a log line, a notice or a message goes through here, so
// that none of them says "1 connections".

/** Made as the module loads: the first number formatted costs ICU's
 * start-up, about 10 ms, which would otherwise fall on a round of the
 * server's loop (the first summary of a flood of connections, a second
 * after it) instead of on the program's start. */
const withSeparators = new Intl.NumberFormat('en-US');

/** `n` and the noun, singular for 1 and plural (with an "s") otherwise;
 * the number with thousands separators: `howMany(2750, 'more line')` is
 * "2,750 more lines". */
export function howMany(n: number, noun: string): string {
  return `${withSeparators.format(n)} ${noun}${n === 1 ? '' : 's'}`;
}
