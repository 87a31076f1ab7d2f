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

/** A chat line as the server relays it, `\n#[<name>@<ip>]>><text>` (the
 * recipe's format), its control characters shown, not obeyed. The client
 * builds it too, to know before sending whether the server would relay it. */
export function relayedLine(sender: string, text: string): string {
  return `\n#[${sender}]>>${showControls(text)}`;
}

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

/** Characters a terminal draws as nothing, or as a blank. Unicode has no
 * property for "draws nothing", so this is the rule: white space, the
 * default-ignorable code points (which a font shows as nothing: the Hangul
 * fillers U+115F, U+1160, U+3164 and U+FFA0, the combining grapheme joiner,
 * variation selectors, and every Cf character), controls, separators, and
 * U+2800 BRAILLE PATTERN BLANK, a symbol of its own that is drawn empty. */
const DRAWN_BLANK = /[\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u2800]/gu;

/** Default-ignorable code points: drawn as nothing, so `bo` + U+034F + `b`
 * would look like `bob`. (The Cf ones are refused already as format characters.) */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;

/** The scripts of Unicode 14 (ISO 15924 codes; Common, Inherited and Unknown
 * are left out). A letter of a newer script than these, or of one the
 * running Node does not know, counts as one script of its own, "unknown". */
const SCRIPT_CODES =
  'Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Bhks Bopo Brah Brai Bugi Buhd Cakm Cans Cari Cham Cher Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp Elba Elym Ethi Geor Glag Gong Gonm Goth Gran Grek Gujr Guru Hang Hani Hano Hatr Hebr Hira Hluw Hmng Hmnp Hung Ital Java Kali Kana Khar Khmr Khoj Kits Knda Kthi Lana Laoo Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand Mani Marc Medf Mend Merc Mero Mlym Modi Mong Mroo Mtei Mult Mymr Nand Narb Nbat Newa Nkoo Nshu Ogam Olck Orkh Orya Osge Osma Ougr Palm Pauc Perm Phag Phli Phlp Phnx Plrd Prti Rjng Rohg Runr Samr Sarb Saur Sgnw Shaw Shrd Sidd Sind Sinh Sogd Sogo Sora Soyo Sund Sylo Syrc Tagb Takr Tale Talu Taml Tang Tavt Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Toto Ugar Vaii Vith Wara Wcho Xpeo Xsux Yezi Yiii Zanb'.split(
    ' ',
  );

/** Characters every script uses (digits, punctuation, spaces, most
 * symbols) and combining marks that take the script of the letter they
 * follow: they do not count towards a name's scripts. */
const ANY_SCRIPT = /^[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]$/u;

/** The only mixtures UTS #39's "highly restrictive" profile allows: Latin
 * with the scripts that Japanese, Chinese and Korean are written in. */
const ALLOWED_MIXES = [
  ['Latn', 'Hani', 'Hira', 'Kana'],
  ['Latn', 'Hani', 'Bopo'],
  ['Latn', 'Hani', 'Hang'],
];

let scriptTests: [code: string, test: RegExp][] | undefined;
/** Scripts of characters seen, by code point: a name's letters are looked up
 * against every script only the first time. Bounded, as names are a
 * stranger's choice. */
const scriptsSeen = new Map<number, readonly string[]>();

/** The scripts a character is written in (its Script_Extensions), none for
 * a character every script uses. */
function scriptsOf(char: string): readonly string[] {
  const code = char.codePointAt(0)!;
  // Letters of ASCII are Latin, and everything else in it is Common.
  if (code < 0x80) return /[A-Za-z]/.test(char) ? ['Latn'] : [];
  const seen = scriptsSeen.get(code);
  if (seen !== undefined) return seen;
  scriptTests ??= SCRIPT_CODES.flatMap((script): [string, RegExp][] => {
    try {
      return [[script, new RegExp(`^\\p{Script_Extensions=${script}}$`, 'u')]];
    } catch {
      return []; // a script this Node's Unicode tables do not have
    }
  });
  let scripts: readonly string[] = [];
  if (!ANY_SCRIPT.test(char)) {
    const found = scriptTests.filter(([, test]) => test.test(char)).map(([script]) => script);
    scripts = found.length > 0 ? found : ['Zzzz'];
  }
  if (scriptsSeen.size >= 4096) scriptsSeen.clear();
  scriptsSeen.set(code, scripts);
  return scripts;
}

const scriptNames = new Intl.DisplayNames(['en'], { type: 'script', fallback: 'code' });

/** The two scripts a name mixes, as UTS #39 (Unicode's security
 * mechanisms) "highly restrictive" forbids: its letters must share one
 * script, or be Latin with Han and Japanese kana, Han and Bopomofo, or Han
 * and Hangul. So `аdmin` with a Cyrillic а, or Latin mixed with Greek, is
 * refused, and `Tanaka 田中` is not. Undefined if the name is fine. */
export function mixedScripts(name: string): [string, string] | undefined {
  const letters = [...name].map(scriptsOf).filter((scripts) => scripts.length > 0);
  if (letters.length === 0) return undefined;
  const shared = letters.reduce((common, scripts) => common.filter((script) => scripts.includes(script)));
  if (shared.length > 0) return undefined;
  if (ALLOWED_MIXES.some((mix) => letters.every((scripts) => scripts.some((script) => mix.includes(script))))) return undefined;
  const first = letters[0]![0]!;
  const other = letters.find((scripts) => !scripts.includes(first))![0]!;
  return [scriptNames.of(first) ?? first, scriptNames.of(other) ?? other];
}

/** Why a name is refused, or undefined if it is fine. Every rule a name
 * must meet is here; `nameKey` says when two names are the same. */
export function nameProblem(name: string, maxLength: number): string | undefined {
  if (name === '') return 'empty name';
  if ([...name].length > maxLength) return `name longer than ${maxLength} characters`;
  if (name.replace(DRAWN_BLANK, '') === '') return 'name shows nothing: every character in it is drawn blank';
  const unsafe = UNSAFE_IN_NAME.exec(name) ?? INVISIBLE.exec(name);
  if (unsafe !== null) return `name contains ${describeChar(unsafe[0])}, which names may not hold`;
  const mixed = mixedScripts(name);
  if (mixed !== undefined) return `name mixes ${mixed[0]} and ${mixed[1]} letters`;
  return undefined;
}

/** What two names are compared by: the same key is the same name. NFKC
 * makes a precomposed ë and e + U+0308 one, and ﬁ and fi one; upper- then
 * lower-casing stands for Unicode's full case folding (it folds ß to ss and
 * a final ς to σ as folding does, and also makes a dotless ı an i, which
 * folding would not: for telling names apart, stricter is safer). */
export function nameKey(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

function describeChar(char: string): string {
  if (char === '@' || char === '[' || char === ']') return `"${char}"`;
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The rule, in one sentence, for --help and for a client told no. */
export function nameRule(maxLength: number): string {
  return `a name is 1 to ${maxLength} visible characters, in one script (or Latin with Chinese, Japanese or Korean), without control, invisible or formatting characters, line separators, "@", "[" or "]", and not the name of someone in the room (compared ignoring case and Unicode variants)`;
}
