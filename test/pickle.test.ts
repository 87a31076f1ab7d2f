import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodePickle, encodePickle, ProtocolError } from '../src/pickle.js';
import { loadPickleFixtures } from './helpers/fixtures.js';
import { SeededRandom } from './helpers/random.js';

const fixtures = loadPickleFixtures();

function rejects(pickle: Buffer | string, reason: RegExp): void {
  const bytes = typeof pickle === 'string' ? Buffer.from(pickle, 'latin1') : pickle;
  assert.throws(
    () => decodePickle(bytes),
    (error: unknown) => {
      assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${String(error)}`);
      assert.match(error.reason, reason);
      return true;
    },
  );
}

describe('decoding what Python wrote', () => {
  for (const fixture of fixtures) {
    test(fixture.name, () => {
      assert.deepEqual(decodePickle(fixture.pickle), { text: fixture.text, shape: fixture.shape });
    });
  }
});

describe('encoding as Python 3 does with protocol=2', () => {
  for (const fixture of fixtures.filter((f) => f.protocol === 2)) {
    test(fixture.name, () => {
      assert.deepEqual(encodePickle(fixture.text, fixture.shape), fixture.pickle);
    });
  }
});

describe('refusing every opcode that is not a string', () => {
  const forbidden: Record<string, string> = {
    GLOBAL: 'cos\nsystem\n',
    STACK_GLOBAL: '\x93',
    REDUCE: 'R',
    BUILD: 'b',
    INST: 'ios\nsystem\n',
    OBJ: 'o',
    NEWOBJ: '\x81',
    NEWOBJ_EX: '\x92',
    PERSID: 'P1\n',
    BINPERSID: 'Q',
    EXT1: '\x82\x01',
    EXT2: '\x83\x01\x00',
    EXT4: '\x84\x01\x00\x00\x00',
    GET: 'g0\n',
    BINGET: 'h\x00',
    LONG_BINGET: 'j\x00\x00\x00\x00',
    INT: 'I1\n',
    BININT: 'J\x01\x00\x00\x00',
    BININT1: 'K\x01',
    BININT2: 'M\x01\x00',
    LONG: 'L1L\n',
    LONG1: '\x8a\x01\x01',
    LONG4: '\x8b\x01\x00\x00\x00\x01',
    FLOAT: 'F1.0\n',
    BINFLOAT: 'G\x00\x00\x00\x00\x00\x00\x00\x00',
    NONE: 'N',
    NEWTRUE: '\x88',
    NEWFALSE: '\x89',
    EMPTY_LIST: ']',
    LIST: '(l',
    APPEND: 'a',
    APPENDS: 'e',
    EMPTY_DICT: '}',
    DICT: '(d',
    SETITEM: 's',
    SETITEMS: 'u',
    EMPTY_SET: '\x8f',
    ADDITEMS: '\x90',
    FROZENSET: '\x91',
    EMPTY_TUPLE: ')',
    TUPLE2: '\x86',
    TUPLE3: '\x87',
    POP: '0',
    POP_MARK: '1',
    DUP: '2',
    BINBYTES8: '\x8e',
    BYTEARRAY8: '\x96',
    NEXT_BUFFER: '\x97',
    READONLY_BUFFER: '\x98',
  };
  for (const [name, body] of Object.entries(forbidden)) {
    test(name, () => {
      // After a valid string, so that the refusal comes from the opcode itself.
      rejects(`\x80\x02X\x02\x00\x00\x00hi${body}.`, new RegExp(`^pickle opcode ${name} is not allowed`));
    });
  }

  test('a byte that is no opcode at all', () => {
    rejects('\x80\x02\xff.', /^unknown pickle opcode 0xff at byte 2$/);
  });

  test('the classic exploit: os.system via GLOBAL and REDUCE', () => {
    rejects("cos\nsystem\n(S'echo pwned'\ntR.", /GLOBAL is not allowed/);
  });
});

describe('refusing malformed pickles', () => {
  const cases: [string, string, RegExp][] = [
    ['empty input', '', /^empty pickle$/],
    ['no STOP', '\x80\x02X\x02\x00\x00\x00hi', /no STOP/],
    ['a length running past the end', '\x80\x02X\xff\x00\x00\x00hi.', /^BINUNICODE data runs past the end of the pickle$/],
    ['a SHORT_BINUNICODE length running past the end', '\x8c\x09hi.', /SHORT_BINUNICODE data runs past/],
    ['a BINUNICODE8 length running past the end', '\x8d\xff\xff\xff\xff\xff\xff\xff\xffhi.', /BINUNICODE8 data runs past/],
    ['a FRAME longer than the pickle', '\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00\x8c\x02hi\x94.', /FRAME length runs past/],
    ['a truncated length field', '\x80\x02X\x02\x00', /^BINUNICODE length field runs past the end of the pickle$/],
    ['bytes after STOP', '\x80\x02X\x02\x00\x00\x00hiq\x00.junk', /^4 bytes after STOP$/],
    ['invalid UTF-8', '\x80\x02X\x02\x00\x00\x00\xc3\x28.', /^BINUNICODE is not valid UTF-8$/],
    ['UTF-8 for a lone surrogate', '\x80\x02X\x03\x00\x00\x00\xed\xa0\x80.', /not valid UTF-8/],
    ['a lone surrogate escaped in UNICODE', 'V\\ud800\np0\n.', /lone surrogate/],
    ['a truncated \\u escape', 'V\\u12\np0\n.', /truncated \\u escape/],
    ['an escape past U+10FFFF', 'V\\U00110000\np0\n.', /past U\+10FFFF/],
    ['UNICODE without end of line', 'Vhello', /UNICODE argument has no end of line/],
    ['STRING without quotes', 'Shello\np0\n.', /not a quoted string/],
    ['STRING with mismatched quotes', 'S\'hello"\np0\n.', /not a quoted string/],
    ['STRING with a truncated \\x escape', "S'\\x4'\np0\n.", /truncated \\x escape/],
    ['BINSTRING with a negative length', 'T\xff\xff\xff\xffhi.', /negative length/],
    ['PUT with no number', 'Vhi\npx\n.', /PUT argument is not a number/],
    ['a protocol from the future', '\x80\x06X\x02\x00\x00\x00hi.', /unsupported pickle protocol 6/],
    ['STOP with an empty stack', '\x80\x02.', /not hold exactly one string/],
    ['two strings', '\x80\x02X\x01\x00\x00\x00aX\x01\x00\x00\x00b.', /not hold exactly one string/],
    ['a MARK left open', '(X\x01\x00\x00\x00a.', /not hold exactly one string/],
    ['a 2-tuple built with TUPLE', '(X\x01\x00\x00\x00aX\x01\x00\x00\x00bt.', /TUPLE of 2 items/],
    ['an empty tuple built with TUPLE', '(t.', /TUPLE of 0 items/],
    ['a tuple of a tuple', 'X\x01\x00\x00\x00a\x85\x85.', /TUPLE1 needs a string/],
    ['TUPLE without MARK', 'X\x01\x00\x00\x00at.', /TUPLE without a MARK/],
    ['MEMOIZE with nothing to store', '\x80\x04\x94.', /MEMOIZE with nothing to store/],
    ['deep MARK nesting', `${'('.repeat(100_000)}.`, /nests too deeply/],
  ];
  for (const [name, pickle, reason] of cases) {
    test(name, () => rejects(pickle, reason));
  }

  test('deep nesting of a megabyte is refused in linear time, at the first opcode too many', () => {
    // Refused at depth 5, so the cost does not depend on the rest.
    const marks = Buffer.alloc(1024 * 1024, '(');
    rejects(marks, /nests too deeply/);
  });
});

describe('properties', () => {
  test('random strings round-trip in both shapes', () => {
    const random = new SeededRandom(2);
    for (let i = 0; i < 2000; i++) {
      const text = random.text(300);
      const shape = random.pick(['str', 'tuple'] as const);
      assert.deepEqual(decodePickle(encodePickle(text, shape)), { text, shape });
    }
  });

  test('mutated Python pickles decode or raise ProtocolError, nothing else', () => {
    const random = new SeededRandom(3);
    const small = fixtures.filter((f) => f.pickle.length < 400);
    for (let i = 0; i < 20_000; i++) {
      const mutated = Buffer.from(random.pick(small).pickle);
      for (let flips = 1 + random.below(3); flips > 0; flips--) mutated[random.below(mutated.length)] = random.below(256);
      const cut = random.below(4) === 0 ? mutated.subarray(0, random.below(mutated.length + 1)) : mutated;
      try {
        const decoded = decodePickle(cut);
        assert.equal(typeof decoded.text, 'string');
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `input ${cut.toString('hex')} threw ${String(error)}`);
      }
    }
  });
});
