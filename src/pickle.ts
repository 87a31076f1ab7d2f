// A pickle codec that understands strings and nothing else.
//
// The original sends every message as `pickle.dumps(msg)` and reads it back
// with `pickle.loads(data)`. Unpickling runs whatever the sender asks for
// (GLOBAL or STACK_GLOBAL names a function, REDUCE calls it), so a chat
// server that unpickles what strangers send hands them a shell. This decoder
// walks the opcodes one by one, accepts only those that can spell a string or
// a 1-tuple holding one, and names every other opcode in its refusal.
// Nothing is ever executed, looked up or skipped.
//
// The opcode table and the meaning of each opcode come from Python's
// `pickletools` module; `python3 -m pickletools FILE` disassembles a pickle.

/** What a message pickle held: the bare string (the recipe's shape) or a
 * 1-tuple holding it (the shape of the book's second edition). */
export type PickleShape = 'str' | 'tuple';

export interface DecodedPickle {
  text: string;
  shape: PickleShape;
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
// Encoding: exactly the bytes of Python 3's `pickle.dumps(x, protocol=2)`.
// Protocol 2 is the newest one Python 2 can still read.

const PROTO = 0x80;
const BINUNICODE = 0x58; // 'X': 4-byte little-endian length, UTF-8
const BINPUT = 0x71; // 'q': store the top of the stack in memo slot n
const TUPLE1 = 0x85;
const STOP = 0x2e; // '.'

/** What follows the string: memoize it (and make a 1-tuple of it), stop. */
const PICKLE_TAILS: Record<PickleShape, number[]> = {
  str: [BINPUT, 0, STOP],
  tuple: [BINPUT, 0, TUPLE1, BINPUT, 1, STOP],
};
/** PROTO 2, BINUNICODE and its 4-byte length. */
const PICKLE_HEAD_SIZE = 2 + 5;

/** The size of `encodePickle(text, shape)`, without encoding it. */
export function pickledSize(text: string, shape: PickleShape = 'str'): number {
  return PICKLE_HEAD_SIZE + Buffer.byteLength(text, 'utf8') + PICKLE_TAILS[shape].length;
}

/** `pickle.dumps(text, protocol=2)`, or `pickle.dumps((text,), protocol=2)`
 * for the tuple shape. */
export function encodePickle(text: string, shape: PickleShape = 'str'): Buffer {
  const utf8Length = Buffer.byteLength(text, 'utf8');
  const tail = PICKLE_TAILS[shape];
  const out = Buffer.allocUnsafe(PICKLE_HEAD_SIZE + utf8Length + tail.length);
  let at = 0;
  out[at++] = PROTO;
  out[at++] = 2;
  out[at++] = BINUNICODE;
  at = out.writeUInt32LE(utf8Length, at);
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

/** A legal message needs at most a MARK and a string on the stack at once;
 * anything deeper is an attack on the decoder, not a message. */
const MAX_STACK_DEPTH = 4;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const MARK_ON_STACK: unique symbol = Symbol('MARK');
type StackItem = string | readonly [string] | typeof MARK_ON_STACK;

/** Reads a pickle of a string or of a 1-tuple holding a string, written by
 * any protocol from 0 to 5. Throws ProtocolError for everything else. */
export function decodePickle(data: Uint8Array): DecodedPickle {
  return new StringOnlyUnpickler(data).load();
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

        // Strings.
        case 0x56: this.push(decodeRawUnicodeEscape(this.line('UNICODE'))); break;
        case 0x53: this.push(utf8(decodePython2StringLiteral(this.line('STRING')), 'STRING')); break;
        case 0x54: this.pushUtf8('BINSTRING', this.signedLength()); break;
        case 0x55: this.pushUtf8('SHORT_BINSTRING', this.readByte('SHORT_BINSTRING length')); break;
        case 0x58: this.pushUtf8('BINUNICODE', this.uint32('BINUNICODE')); break;
        case 0x8c: this.pushUtf8('SHORT_BINUNICODE', this.readByte('SHORT_BINUNICODE length')); break;
        case 0x8d: this.pushUtf8('BINUNICODE8', this.uint64('BINUNICODE8')); break;
        case 0x42: this.pushUtf8('BINBYTES', this.uint32('BINBYTES')); break;
        case 0x43: this.pushUtf8('SHORT_BINBYTES', this.readByte('SHORT_BINBYTES length')); break;

        // The one container a message may come in: a 1-tuple.
        case 0x28: this.push(MARK_ON_STACK); break; // MARK
        case 0x74: this.tupleFromMark(); break; // TUPLE
        case 0x85: this.push([this.popString('TUPLE1')]); break; // TUPLE1

        case 0x2e: return this.stop(); // STOP

        default: {
          const name = OPCODE_NAMES[opcode];
          throw new ProtocolError(
            name === undefined
              ? `unknown pickle opcode 0x${opcode.toString(16).padStart(2, '0')} at byte ${this.at - 1}`
              : `pickle opcode ${name} is not allowed (only strings are accepted)`,
          );
        }
      }
    }
  }

  private stop(): DecodedPickle {
    if (this.at !== this.bytes.length) {
      throw new ProtocolError(`${this.bytes.length - this.at} bytes after STOP`);
    }
    const [top] = this.stack;
    if (this.stack.length !== 1 || top === undefined || top === MARK_ON_STACK) {
      throw new ProtocolError('pickle does not hold exactly one string');
    }
    return typeof top === 'string' ? { text: top, shape: 'str' } : { text: top[0], shape: 'tuple' };
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

  private tupleFromMark(): void {
    const markAt = this.stack.lastIndexOf(MARK_ON_STACK);
    if (markAt === -1) throw new ProtocolError('TUPLE without a MARK');
    const items = this.stack.splice(markAt);
    items.shift();
    const [only] = items;
    if (items.length !== 1 || typeof only !== 'string') {
      throw new ProtocolError(`TUPLE of ${items.length} items: only a 1-tuple holding a string is accepted`);
    }
    this.stack.push([only]);
  }

  private popString(opcode: string): string {
    const top = this.stack.pop();
    if (typeof top !== 'string') throw new ProtocolError(`${opcode} needs a string on the stack`);
    return top;
  }

  private memoize(opcode: string): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined || top === MARK_ON_STACK) throw new ProtocolError(`${opcode} with nothing to store`);
  }

  /** The binary string opcodes: a length, then that many bytes of UTF-8
   * (Python 2 byte strings and Python 3 bytes are read as UTF-8 too). */
  private pushUtf8(opcode: string, length: number): void {
    this.push(utf8(this.take(length, `${opcode} data`), opcode));
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

function utf8(bytes: Uint8Array, opcode: string): string {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new ProtocolError(`${opcode} is not valid UTF-8`);
  }
  return text;
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
    text += String.fromCodePoint(codePoint);
    at = runEnd + 1 + digits.length;
  }
  if (!text.isWellFormed()) throw new ProtocolError('UNICODE holds a lone surrogate');
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
