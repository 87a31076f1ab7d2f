// Shared by the command lines: reading a whole number from a flag, with a
// message that names the flag when it is not one.

export function parseIntegerOption(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw new Error(`${flag} takes a whole number from ${min} to ${max}, not "${value}"`);
  }
  return number;
}
