// Text from strangers: what may be shown as it is, and what a name may hold.
//
// A chat line is printed into someone's terminal, and a terminal obeys what
// it is sent: ESC starts a sequence that can move the cursor, clear the
// screen, set the window's title or write to the clipboard; a carriage
// return goes back to the start of the line, where a fake `#[admin@...]>>`
// can be printed over the real one. Bidirectional-text controls reorder
// what follows them on screen. So control characters are shown, not
// obeyed: the server relays them that way, and the client shows anything
// that still gets through the same way, whichever server it talks to.

/** C0 and C1 controls, DEL, the line and paragraph separators, and the
 * controls that change the direction of the text that follows. (Other
 * format characters, such as the zero-width joiner inside an emoji, are
 * harmless in a line of text and stay.) */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSAFE_IN_TEXT = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Shows every character that a terminal would obey instead of print:
 * C0 controls and DEL in caret notation (`^[` for ESC, `^M` for a carriage
 * return, `^?` for DEL), the others as `<U+202E>`. Ordinary text comes back
 * unchanged, the very same string. */
export function showControls(text: string): string {
  return text.replace(UNSAFE_IN_TEXT, (char) => {
    const code = char.charCodeAt(0);
    if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
    if (code === 0x7f) return '^?';
    return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
  });
}

/** A message as the server sent it, made safe to print: the one newline
 * the protocol puts before every message stays, everything else is shown
 * with `showControls`. */
export function showMessage(message: string): string {
  return message.startsWith('\n') ? `\n${showControls(message.slice(1))}` : showControls(message);
}

/** Characters a name may not hold: controls and format characters (Unicode
 * categories Cc and Cf: bidirectional overrides, zero-width spaces...), line
 * and paragraph separators, and the delimiters of `#[name@ip]>>`, with
 * which one name could pose as another user or another line. */
const UNSAFE_IN_NAME = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}@[\]]/u;

/** Why a name is refused, or undefined if it is fine. */
export function nameProblem(name: string, maxLength: number): string | undefined {
  if (name === '') return 'empty name';
  if ([...name].length > maxLength) return `name longer than ${maxLength} characters`;
  const unsafe = UNSAFE_IN_NAME.exec(name);
  if (unsafe !== null) return `name contains ${describeChar(unsafe[0])}, which names may not hold`;
  return undefined;
}

function describeChar(char: string): string {
  if (char === '@' || char === '[' || char === ']') return `"${char}"`;
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The rule, in one sentence, for --help and for a client told no. */
export function nameRule(maxLength: number): string {
  return `a name is 1 to ${maxLength} characters, without control or invisible formatting characters, line separators, "@", "[" or "]"`;
}
