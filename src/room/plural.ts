// Counts in words, one way everywhere: "1 connection", "2,750 connections".
// Every count in a log line, a notice or a message goes through here, so
// that none of them says "1 connections".

/** `n` and the noun, singular for 1 and plural (with an "s") otherwise;
 * the number with thousands separators: `howMany(2750, 'more line')` is
 * "2,750 more lines". */
export function howMany(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}
