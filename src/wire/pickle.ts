// A pickle codec that understands strings and nothing else.
//
// The original sends every message as `pickle.dumps(msg)` and reads it back
// with `pickle.loads(data)`. Unpickling runs whatever the sender asks for
// (GLOBAL or STACK_GLOBAL names a function, REDUCE calls it), so a chat
// server that unpickles what strangers send hands them a shell. This decoder
// walks the opcodes one by one, accepts only those that can spell a string or
// a 1-tuple holding one, and names every other opcode in its refusal.
// Nothing is ever executed, looked up or skipped. (Python 3 writes its bytes
// for protocols 0-2 as a call, `_codecs.encode(text, 'latin1')`: that one
// call is read as the data it spells, by the function's name alone.)
//
// Text comes from Python 2 as well as Python 3, as byte strings as well as
// unicode, and need not be UTF-8: a byte string that is not UTF-8 is read as
// Latin-1, a lone surrogate is shown as U+FFFD (docs/INTEROP.md says why).
//
// The opcode table and the meaning of each opcode come from Python's
// `pickletools` module; `python3 -m pickletools FILE` disassembles a pickle.

import { isUtf8 } from 'node:buffer';

/** What a message pickle held: the bare string (the recipe's shape, as the
 * seed's write-up gives it) or a 1-tuple holding it (the book's, both
 * editions). */
export type PickleShape = 'str' | 'tuple';

/** The Python type the string was pickled as:
 * - `unicode`: text, a Python 3 `str` or a Python 2 `unicode` (UNICODE,
 *   BINUNICODE, SHORT_BINUNICODE, BINUNICODE8);
 * - `bytestring`: a Python 2 `str`, bytes (STRING, BINSTRING,
 *   SHORT_BINSTRING): what a Python 2 program reads from its arguments,
 *   its standard input and its sockets;
 * - `bytes`: a Python 3 `bytes` (BINBYTES, SHORT_BINBYTES, BINBYTES8, and
 *   below protocol 3 the call `_codecs.encode(text, 'latin1')`).
 * A peer is answered in the type it spoke: Python 2 mixes a byte string and
 * a `unicode` only as ASCII, so a `unicode` é sent to a byte-string client
 * kills it as soon as it joins the é to its own `str`. */
export type StringType = 'unicode' | 'bytestring' | 'bytes';

/** How a message is pickled: what a peer reads, and so is answered in. */
export interface PickleForm {
  shape: PickleShape;
  stringType: StringType;
}

export interface DecodedPickle extends PickleForm {
  text: string;
}

/** Every way a frame or a pickle can be malformed. `reason` is one line,
 * ready for a log. */
export class ProtocolError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ProtocolError';
  }
}

// ---------------------------------------------------------------------------
// Encoding: exactly the bytes Python writes. Text and Python 2 byte strings
// as `pickle.dumps(x, protocol=2)` writes them (Python 3 for text, Python 2
// for a byte string): protocol 2 is the newest one Python 2 can still read.
// Python 3 bytes as `pickle.dumps(x, protocol=3)`, the first protocol with
// a bytes opcode, which any Python 3 reads. A byte string or bytes holds the
// text in UTF-8.

const PROTO = 0x80;
const BINPUT = 0x71; // 'q': store the top of the stack in memo slot n
const TUPLE1 = 0x85;
const STOP = 0x2e; // '.'

/** How each type is written: the protocol, then the opcode with a 4-byte
 * little-endian length and the one with a 1-byte length (for 0-255 bytes). */
const STRING_OPCODES: Record<StringType, { protocol: number; long: number; short: number | undefined }> = {
  unicode: { protocol: 2, long: 0x58, short: undefined }, // BINUNICODE
  bytestring: { protocol: 2, long: 0x54, short: 0x55 }, // BINSTRING, SHORT_BINSTRING
  bytes: { protocol: 3, long: 0x42, short: 0x43 }, // BINBYTES, SHORT_BINBYTES
};

/** What follows the string: memoize it (and make a 1-tuple of it), stop. */
const PICKLE_TAILS: Record<PickleShape, number[]> = {
  str: [BINPUT, 0, STOP],
  tuple: [BINPUT, 0, TUPLE1, BINPUT, 1, STOP],
};

/** PROTO and its version, the string's opcode and its length. */
function headSize(utf8Length: number, stringType: StringType): number {
  return 2 + (utf8Length < 256 && STRING_OPCODES[stringType].short !== undefined ? 2 : 5);
}

/** The size of `encodePickle(text, shape, stringType)`, without encoding it.
 * Text is never smaller than the other types. */
export function pickledSize(text: string, shape: PickleShape = 'str', stringType: StringType = 'unicode'): number {
  const utf8Length = Buffer.byteLength(text, 'utf8');
  return headSize(utf8Length, stringType) + utf8Length + PICKLE_TAILS[shape].length;
}

/** `pickle.dumps(text, protocol=2)`, or `pickle.dumps((text,), protocol=2)`
 * for the tuple shape; for the other types, the text in UTF-8 pickled as
 * that type. `headroom` bytes are left before it, unwritten, for whoever
 * puts a header there (src/wire/wire.ts's `frame`): one buffer, not two
 * joined. */
export function encodePickle(text: string, shape: PickleShape = 'str', stringType: StringType = 'unicode', headroom = 0): Buffer {
  const utf8Length = Buffer.byteLength(text, 'utf8');
  const head = headSize(utf8Length, stringType);
  const tail = PICKLE_TAILS[shape];
  const { protocol, long, short } = STRING_OPCODES[stringType];
  const out = Buffer.allocUnsafe(headroom + head + utf8Length + tail.length);
  let at = headroom;
  out[at++] = PROTO;
  out[at++] = protocol;
  if (head === 4) {
    out[at++] = short!;
    out[at++] = utf8Length;
  } else {
    out[at++] = long;
    at = out.writeUInt32LE(utf8Length, at);
  }
  at += out.write(text, at, 'utf8');
  for (const byte of tail) out[at++] = byte;
  return out;
}

// ---------------------------------------------------------------------------
// Decoding.

/** Every opcode Python knows, by byte, so that a refusal can name it. */
// biome-ignore format: a table reads best as a table
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP',
  0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG',
  0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID',
  0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD',
  0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS',
  0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST',
  0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE',
  0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE',
  0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x8c: 'SHORT_BINUNICODE',
  0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE',
  0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const HIGHEST_PROTOCOL = 5;

/** A legal message needs at most a MARK, Python 3's bytes rebuilt
 * (`_codecs.encode`, a MARK, the text and 'latin1') on the stack at once;
 * anything deeper is an attack on the decoder, not a message. */
const MAX_STACK_DEPTH = 5;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface PickledString {
  readonly kind: 'string';
  readonly text: string;
  readonly type: StringType;
}
/** A tuple of strings: a message's 1-tuple, or the arguments that rebuild bytes. */
interface PickledTuple {
  readonly kind: 'tuple';
  readonly items: readonly PickledString[];
}
/** A function named by GLOBAL, only ever one that Python 3 uses to write
 * its bytes for Python 2's sake. It is never looked up or called: REDUCE
 * does what it would do, for the one argument list Python 3 writes. */
interface NamedFunction {
  readonly kind: 'function';
  readonly name: BytesBuilder;
}
const MARK_ON_STACK: unique symbol = Symbol('MARK');
type StackItem = PickledString | PickledTuple | NamedFunction | typeof MARK_ON_STACK;

/** The functions Python 3 names when it pickles `bytes` below protocol 3:
 * `_codecs.encode(text, 'latin1')`, or `bytes()` when empty (`__builtin__`
 * is Python 2's name for `builtins`, which Python 3 writes unless told not to). */
const BYTES_BUILDERS = ['_codecs.encode', '__builtin__.bytes', 'builtins.bytes'] as const;
type BytesBuilder = (typeof BYTES_BUILDERS)[number];
/** Each as GLOBAL's argument spells it: the module and the name, each on a line. */
const GLOBAL_ARGUMENTS: Record<BytesBuilder, Buffer> = {
  '_codecs.encode': Buffer.from('_codecs\nencode\n'),
  '__builtin__.bytes': Buffer.from('__builtin__\nbytes\n'),
  'builtins.bytes': Buffer.from('builtins\nbytes\n'),
};

/** Reads a pickle of a string or of a 1-tuple holding a string, written by
 * any protocol from 0 to 5, as text, a Python 2 byte string or Python 3
 * bytes. Throws ProtocolError for everything else. */
export function decodePickle(data: Uint8Array): DecodedPickle {
  return decodeEncodersText(data) ?? new StringOnlyUnpickler(data).load();
}

/** Text in the very bytes `encodePickle` writes for it, which are also
 * Python 3's `pickle.dumps(text, protocol=2)`: PROTO 2, BINUNICODE and its
 * length, the UTF-8, one of PICKLE_TAILS, and nothing after. Almost every
 * message comes so, and is read here in one look instead of opcode by
 * opcode: a fresh server reads its first few thousand messages before V8
 * has compiled the unpickler, at about 15 µs each there against 3 µs here.
 * Anything else, this shape with text that is not strict UTF-8 included,
 * is left to the unpickler (undefined), which reads it or says why not. */
function decodeEncodersText(data: Uint8Array): DecodedPickle | undefined {
  const { protocol, long } = STRING_OPCODES.unicode;
  if (data.length < 7 || data[0] !== PROTO || data[1] !== protocol || data[2] !== long) return undefined;
  const end = 7 + (data[3]! | (data[4]! << 8) | (data[5]! << 16)) + data[6]! * 2 ** 24;
  const shape = end <= data.length ? tailAt(data, end) : undefined;
  if (shape === undefined) return undefined;
  try {
    return { text: strictUtf8.decode(data.subarray(7, end)), shape, stringType: 'unicode' };
  } catch {
    return undefined;
  }
}

/** Which of PICKLE_TAILS `data` ends with from `at`, exactly, if either. */
function tailAt(data: Uint8Array, at: number): PickleShape | undefined {
  const shape = data.length - at === PICKLE_TAILS.str.length ? 'str' : 'tuple';
  const tail = PICKLE_TAILS[shape];
  if (data.length - at !== tail.length) return undefined;
  for (let i = 0; i < tail.length; i++) if (data[at + i] !== tail[i]) return undefined;
  return shape;
}

class StringOnlyUnpickler {
  private at = 0;
  private readonly stack: StackItem[] = [];
  private readonly bytes: Buffer;

  constructor(data: Uint8Array) {
    this.bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  load(): DecodedPickle {
    if (this.bytes.length === 0) throw new ProtocolError('empty pickle');
    for (;;) {
      const opcode = this.readByte('an opcode');
      // biome-ignore format: one opcode a line, as pickletools lists them
      switch (opcode) {
        // Framing and bookkeeping: checked, then nothing to do. The memo is
        // never read (GET is refused), so nothing is stored in it.
        case 0x80: this.protocol(); break; // PROTO
        case 0x95: this.frame(); break; // FRAME
        case 0x70: this.decimalLine('PUT'); this.memoize('PUT'); break;
        case 0x71: this.take(1, 'BINPUT argument'); this.memoize('BINPUT'); break;
        case 0x72: this.take(4, 'LONG_BINPUT argument'); this.memoize('LONG_BINPUT'); break;
        case 0x94: this.memoize('MEMOIZE'); break;

        // Text.
        case 0x56: this.pushString(decodeRawUnicodeEscape(this.line('UNICODE')), 'unicode'); break;
        case 0x58: this.pushUnicode('BINUNICODE', this.uint32('BINUNICODE')); break;
        case 0x8c: this.pushUnicode('SHORT_BINUNICODE', this.readByte('SHORT_BINUNICODE length')); break;
        case 0x8d: this.pushUnicode('BINUNICODE8', this.uint64('BINUNICODE8')); break;
        // Python 2 byte strings.
        case 0x53: this.pushString(decodeByteString(decodePython2StringLiteral(this.line('STRING'))), 'bytestring'); break;
        case 0x54: this.pushBytes('BINSTRING', this.signedLength(), 'bytestring'); break;
        case 0x55: this.pushBytes('SHORT_BINSTRING', this.readByte('SHORT_BINSTRING length'), 'bytestring'); break;
        // Python 3 bytes, and how protocols 0-2 rebuild them.
        case 0x42: this.pushBytes('BINBYTES', this.uint32('BINBYTES'), 'bytes'); break;
        case 0x43: this.pushBytes('SHORT_BINBYTES', this.readByte('SHORT_BINBYTES length'), 'bytes'); break;
        case 0x8e: this.pushBytes('BINBYTES8', this.uint64('BINBYTES8'), 'bytes'); break;
        case 0x63: this.global(); break; // GLOBAL
        case 0x52: this.reduce(); break; // REDUCE

        // Tuples of strings: a message's 1-tuple, the arguments that rebuild bytes.
        case 0x28: this.push(MARK_ON_STACK); break; // MARK
        case 0x74: this.tupleFromMark(); break; // TUPLE
        case 0x29: this.push({ kind: 'tuple', items: [] }); break; // EMPTY_TUPLE
        case 0x85: this.tuple1(); break; // TUPLE1
        case 0x86: this.tuple2(); break; // TUPLE2

        case 0x2e: return this.stop(); // STOP

        default: throw refusal(opcode, this.at - 1);
      }
    }
  }

  private stop(): DecodedPickle {
    if (this.at !== this.bytes.length) {
      throw new ProtocolError(`${this.bytes.length - this.at} bytes after STOP`);
    }
    const [top] = this.stack;
    if (this.stack.length !== 1 || top === undefined || top === MARK_ON_STACK || top.kind === 'function') {
      throw new ProtocolError('pickle does not hold exactly one string');
    }
    if (top.kind === 'string') return { text: top.text, shape: 'str', stringType: top.type };
    const [only] = top.items;
    if (top.items.length !== 1 || only === undefined) {
      throw new ProtocolError(`pickle holds a tuple of ${top.items.length} items: only a 1-tuple holding a string is accepted`);
    }
    return { text: only.text, shape: 'tuple', stringType: only.type };
  }

  private protocol(): void {
    const version = this.readByte('PROTO version');
    if (version > HIGHEST_PROTOCOL) throw new ProtocolError(`unsupported pickle protocol ${version}`);
  }

  private frame(): void {
    // A FRAME announces how many bytes the next opcodes fill. Python reads
    // the frame in one go; here the whole pickle is in memory already, so it
    // is enough to check that the frame fits.
    const length = this.uint64('FRAME');
    if (length > this.bytes.length - this.at) throw new ProtocolError('FRAME length runs past the end of the pickle');
  }

  /** GLOBAL names a function by module and name, each on a line. Only the
   * ones that rebuild Python 3's bytes are taken, as names, not functions;
   * any other is refused before its name is even read. */
  private global(): void {
    const builder = BYTES_BUILDERS.find((name) => {
      const spelled = GLOBAL_ARGUMENTS[name];
      return this.bytes.subarray(this.at, this.at + spelled.length).equals(spelled);
    });
    if (builder === undefined) throw refusal(0x63);
    this.at += GLOBAL_ARGUMENTS[builder].length;
    this.push({ kind: 'function', name: builder });
  }

  /** REDUCE calls a function with a tuple of arguments. Here it only
   * rebuilds bytes, the two ways Python 3 writes them for Python 2, doing
   * itself what the call would do. */
  private reduce(): void {
    const args = this.stack.pop();
    const builder = this.stack.pop();
    if (
      args === undefined ||
      args === MARK_ON_STACK ||
      args.kind !== 'tuple' ||
      builder === undefined ||
      builder === MARK_ON_STACK ||
      builder.kind !== 'function'
    ) {
      throw refusal(0x52);
    }
    const [text, encoding] = args.items;
    if (builder.name === '_codecs.encode' && args.items.length === 2 && text?.type === 'unicode' && encoding?.text === 'latin1') {
      // Each character of the text is one byte, as Python's 'latin1' encodes
      // it. Python refuses a character past U+00FF; Node would keep only its
      // low byte, so the bytes must spell the text again.
      const bytes = Buffer.from(text.text, 'latin1');
      if (bytes.toString('latin1') !== text.text) throw new ProtocolError('_codecs.encode of text that is not Latin-1');
      this.pushString(decodeByteString(bytes), 'bytes');
    } else if (builder.name !== '_codecs.encode' && args.items.length === 0) {
      this.pushString('', 'bytes');
    } else {
      throw new ProtocolError(`REDUCE of ${builder.name} with other arguments than Python writes for bytes`);
    }
  }

  private tupleFromMark(): void {
    const markAt = this.stack.lastIndexOf(MARK_ON_STACK);
    if (markAt === -1) throw new ProtocolError('TUPLE without a MARK');
    const items = this.stack.splice(markAt);
    items.shift();
    if (items.length > 2) throw new ProtocolError(`TUPLE of ${items.length} items: only a 1-tuple holding a string is accepted`);
    this.push({ kind: 'tuple', items: items.map((item) => this.asString(item, 'TUPLE')) });
  }

  private tuple1(): void {
    this.stack.push({ kind: 'tuple', items: [this.popString('TUPLE1')] });
  }

  private tuple2(): void {
    if (this.stack.length < 2) throw new ProtocolError('TUPLE2 needs two strings on the stack');
    const second = this.popString('TUPLE2');
    this.stack.push({ kind: 'tuple', items: [this.popString('TUPLE2'), second] });
  }

  private popString(opcode: string): PickledString {
    return this.asString(this.stack.pop(), opcode);
  }

  private asString(item: StackItem | undefined, opcode: string): PickledString {
    if (item === undefined || item === MARK_ON_STACK || item.kind !== 'string') throw new ProtocolError(`${opcode} needs a string on the stack`);
    return item;
  }

  private memoize(opcode: string): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined || top === MARK_ON_STACK) throw new ProtocolError(`${opcode} with nothing to store`);
  }

  /** The binary text opcodes: a length, then that many bytes of UTF-8. */
  private pushUnicode(opcode: string, length: number): void {
    this.pushString(decodeUnicode(this.take(length, `${opcode} data`), opcode), 'unicode');
  }

  /** The binary byte string and bytes opcodes: a length, then that many bytes. */
  private pushBytes(opcode: string, length: number, type: StringType): void {
    this.pushString(decodeByteString(this.take(length, `${opcode} data`)), type);
  }

  private pushString(text: string, type: StringType): void {
    this.push({ kind: 'string', text, type });
  }

  private push(item: StackItem): void {
    if (this.stack.length === MAX_STACK_DEPTH) throw new ProtocolError('pickle nests too deeply');
    this.stack.push(item);
  }

  // --- reading arguments; every length is checked against what is left ---

  private readByte(what: string): number {
    const byte = this.bytes[this.at];
    if (byte === undefined) throw new ProtocolError(`pickle ends before ${what} (no STOP)`);
    this.at += 1;
    return byte;
  }

  private take(length: number, what: string): Buffer {
    if (length > this.bytes.length - this.at) throw new ProtocolError(`${what} runs past the end of the pickle`);
    const slice = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return slice;
  }

  private uint32(opcode: string): number {
    return this.take(4, `${opcode} length field`).readUInt32LE(0);
  }

  private signedLength(): number {
    const length = this.take(4, 'BINSTRING length field').readInt32LE(0);
    if (length < 0) throw new ProtocolError('BINSTRING with a negative length');
    return length;
  }

  private uint64(opcode: string): number {
    // Anything past 2^53 is past the end anyway; Number keeps the check exact
    // up to there.
    return Number(this.take(8, `${opcode} length field`).readBigUInt64LE(0));
  }

  /** The text-protocol opcodes carry their argument up to a newline. */
  private line(opcode: string): Buffer {
    const end = this.bytes.indexOf(0x0a, this.at);
    if (end === -1) throw new ProtocolError(`${opcode} argument has no end of line`);
    const slice = this.bytes.subarray(this.at, end);
    this.at = end + 1;
    return slice;
  }

  private decimalLine(opcode: string): void {
    if (!/^\d+$/.test(this.line(opcode).toString('latin1'))) {
      throw new ProtocolError(`${opcode} argument is not a number`);
    }
  }
}

/** The refusal of an opcode that is not a string, by its name. */
function refusal(opcode: number, at?: number): ProtocolError {
  const name = OPCODE_NAMES[opcode];
  return new ProtocolError(
    name === undefined
      ? `unknown pickle opcode 0x${opcode.toString(16).padStart(2, '0')} at byte ${at}`
      : `pickle opcode ${name} is not allowed (only strings are accepted)`,
  );
}

/** Text as Python writes it: UTF-8, except that a lone surrogate (a Python 3
 * string decoded with 'surrogateescape', as from a C locale) is written as
 * if it were a character (Python 3's 'surrogatepass'; Python 2 does the
 * same): such a surrogate is shown as U+FFFD. Anything else that is not
 * UTF-8 Python itself refuses to load, and so does this. */
function decodeUnicode(bytes: Buffer, opcode: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {}
  const patched = withSurrogatesReplaced(bytes);
  if (patched === undefined || !isUtf8(patched)) throw new ProtocolError(`${opcode} is not valid UTF-8`);
  return patched.toString('utf8');
}

/** A copy with each surrogate's three bytes (ED A0-BF 80-BF) made the three
 * of U+FFFD (EF BF BD), or undefined if there is none. */
function withSurrogatesReplaced(bytes: Buffer): Buffer | undefined {
  let copy: Buffer | undefined;
  for (let at = bytes.indexOf(0xed); at !== -1 && at + 2 < bytes.length; at = bytes.indexOf(0xed, at + 1)) {
    const second = bytes[at + 1]!;
    const third = bytes[at + 2]!;
    if (second < 0xa0 || second > 0xbf || third < 0x80 || third > 0xbf) continue;
    copy ??= Buffer.from(bytes);
    copy[at] = 0xef;
    copy[at + 1] = 0xbf;
    copy[at + 2] = 0xbd;
  }
  return copy;
}

/** A byte string carries no encoding. Read as UTF-8 when it is UTF-8 (what
 * today's terminals send), else as Latin-1, each byte the character of its
 * number (what a terminal in a Latin-1 locale sends): every byte string is
 * some text, and none is refused. */
function decodeByteString(bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

const HEX_DIGITS = /^[0-9a-fA-F]+$/;

/** Python's `raw-unicode-escape` codec, as UNICODE (protocol 0) uses it:
 * bytes are Latin-1 characters, except that `\uXXXX` and `\UXXXXXXXX` after
 * an odd run of backslashes are escapes. */
function decodeRawUnicodeEscape(bytes: Buffer): string {
  const raw = bytes.toString('latin1');
  let text = '';
  let at = 0;
  while (at < raw.length) {
    const slash = raw.indexOf('\\', at);
    if (slash === -1) {
      text += raw.slice(at);
      break;
    }
    let runEnd = slash;
    while (raw[runEnd] === '\\') runEnd += 1;
    const marker = raw[runEnd];
    const isEscape = (runEnd - slash) % 2 === 1 && (marker === 'u' || marker === 'U');
    if (!isEscape) {
      text += raw.slice(at, runEnd);
      at = runEnd;
      continue;
    }
    text += raw.slice(at, runEnd - 1);
    const digits = raw.slice(runEnd + 1, runEnd + 1 + (marker === 'u' ? 4 : 8));
    if (digits.length !== (marker === 'u' ? 4 : 8) || !HEX_DIGITS.test(digits)) {
      throw new ProtocolError(`UNICODE has a truncated \\${marker} escape`);
    }
    const codePoint = parseInt(digits, 16);
    if (codePoint > 0x10ffff) throw new ProtocolError('UNICODE escape is past U+10FFFF');
    // A lone surrogate, escaped: shown as U+FFFD, as in BINUNICODE. Two in a
    // row stay two: Python holds them as two, not as the pair's character.
    text += codePoint >= 0xd800 && codePoint <= 0xdfff ? '\ufffd' : String.fromCodePoint(codePoint);
    at = runEnd + 1 + digits.length;
  }
  return text;
}

const SIMPLE_ESCAPES: Record<string, number> = {
  '\\': 0x5c,
  "'": 0x27,
  '"': 0x22,
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
};

/** Python 2's `repr` of a byte string, as STRING (protocol 0) carries it:
 * quoted with ' or ", with the escapes of Python's string literals. */
function decodePython2StringLiteral(line: Buffer): Buffer {
  const quote = line[0];
  if (line.length < 2 || (quote !== 0x27 && quote !== 0x22) || line[line.length - 1] !== quote) {
    throw new ProtocolError('STRING argument is not a quoted string');
  }
  const body = line.subarray(1, -1);
  const out: number[] = [];
  for (let at = 0; at < body.length; ) {
    const byte = body[at++]!;
    if (byte !== 0x5c) {
      out.push(byte);
      continue;
    }
    const next = body[at++];
    if (next === undefined) throw new ProtocolError('STRING ends in a lone backslash');
    const letter = String.fromCharCode(next);
    const simple = SIMPLE_ESCAPES[letter];
    if (simple !== undefined) {
      out.push(simple);
    } else if (letter === 'x') {
      const digits = body.subarray(at, at + 2).toString('latin1');
      if (!/^[0-9a-fA-F]{2}$/.test(digits)) throw new ProtocolError('STRING has a truncated \\x escape');
      out.push(parseInt(digits, 16));
      at += 2;
    } else if (letter >= '0' && letter <= '7') {
      let digits = letter;
      while (digits.length < 3 && body[at] !== undefined && body[at]! >= 0x30 && body[at]! <= 0x37) {
        digits += String.fromCharCode(body[at++]!);
      }
      out.push(parseInt(digits, 8) & 0xff);
    } else {
      // Python keeps an unknown escape as it stands, backslash included.
      out.push(0x5c, next);
    }
  }
  return Buffer.from(out);
}
