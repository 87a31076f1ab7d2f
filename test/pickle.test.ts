import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodePickle, encodePickle, ProtocolError, pickledSize } from '../src/wire/pickle.js';
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

describe('decoding what Python 3 and Python 2 wrote', () => {
  for (const fixture of fixtures) {
    test(fixture.name, () => {
      assert.deepEqual(decodePickle(fixture.pickle), { text: fixture.text, shape: fixture.shape, stringType: fixture.stringType });
    });
  }
});

describe('encoding as Python does: text and byte strings with protocol=2, bytes with protocol=3', () => {
  const encoded = fixtures.filter((f) => f.encodes);
  test('every type and shape has a case', () => {
    const forms = new Set(encoded.map((f) => `${f.stringType} ${f.shape}`));
    assert.deepEqual([...forms].sort(), ['bytes str', 'bytes tuple', 'bytestring str', 'bytestring tuple', 'unicode str', 'unicode tuple']);
  });
  for (const fixture of encoded) {
    test(fixture.name, () => {
      assert.deepEqual(encodePickle(fixture.text, fixture.shape, fixture.stringType), fixture.pickle);
      assert.equal(pickledSize(fixture.text, fixture.shape, fixture.stringType), fixture.pickle.length);
    });
  }
});

describe('text that is not UTF-8, shown, not refused', () => {
  test('a Python 2 byte string that is not UTF-8 is read as Latin-1', () => {
    assert.deepEqual(decodePickle(Buffer.from("S'Gr\\xfc\\xdfe'\np0\n.", 'latin1')), { text: 'Grüße', shape: 'str', stringType: 'bytestring' });
    assert.deepEqual(decodePickle(Buffer.from('\x80\x02U\x02\xe9\xe8q\x00.', 'latin1')).text, 'éè');
  });

  test('a byte string that is UTF-8 is read as UTF-8', () => {
    assert.equal(decodePickle(Buffer.from('\x80\x02U\x02\xc3\xa9q\x00.', 'latin1')).text, 'é');
  });

  test('each lone surrogate in text is one U+FFFD, in BINUNICODE and in UNICODE', () => {
    assert.equal(decodePickle(Buffer.from('\x80\x02X\x07\x00\x00\x00a\xed\xb3\x83\xed\xb2\xa9q\x00.', 'latin1')).text, 'a\ufffd\ufffd');
    assert.equal(decodePickle(Buffer.from('Va\\udcc3\\udca9\np0\n.', 'latin1')).text, 'a\ufffd\ufffd');
    // Two surrogates that would make a pair are still two: Python holds them as two.
    assert.equal(decodePickle(Buffer.from('V\\ud83d\\ude00\np0\n.', 'latin1')).text, '\ufffd\ufffd');
  });

  test('BINBYTES8, which Python writes only past 4 GiB, is read like BINBYTES', () => {
    assert.deepEqual(decodePickle(Buffer.from('\x80\x04\x8e\x02\x00\x00\x00\x00\x00\x00\x00hi\x94.', 'latin1')), {
      text: 'hi',
      shape: 'str',
      stringType: 'bytes',
    });
  });

  test('Python 3 bytes of protocols 0-2 are rebuilt, not called', () => {
    assert.deepEqual(decodePickle(Buffer.from('c_codecs\nencode\np0\n(Vcaf\xc3\xa9\np1\nVlatin1\np2\ntp3\nRp4\n.', 'latin1')), {
      text: 'café',
      shape: 'str',
      stringType: 'bytes',
    });
    assert.deepEqual(decodePickle(Buffer.from('\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01\x85q\x02.', 'latin1')), {
      text: '',
      shape: 'tuple',
      stringType: 'bytes',
    });
  });
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
    TUPLE3: '\x87',
    POP: '0',
    POP_MARK: '1',
    DUP: '2',
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

  test('GLOBAL names only the functions that rebuild bytes, and REDUCE calls them only as Python 3 does', () => {
    rejects('c_codecs\ndecode\n.', /^pickle opcode GLOBAL is not allowed/);
    rejects('cbuiltins\neval\n.', /^pickle opcode GLOBAL is not allowed/);
    rejects('c_codecs\nencode\n(Vx\nVrot13\ntR.', /^REDUCE of _codecs\.encode with other arguments/);
    rejects('c_codecs\nencode\n(Vx\ntR.', /^REDUCE of _codecs\.encode with other arguments/);
    rejects("c_codecs\nencode\n(S'x'\nVlatin1\ntR.", /^REDUCE of _codecs\.encode with other arguments/);
    rejects('c__builtin__\nbytes\n(Vx\ntR.', /^REDUCE of __builtin__\.bytes with other arguments/);
    rejects('c_codecs\nencode\n(V\\u0100\nVlatin1\ntR.', /^_codecs\.encode of text that is not Latin-1$/);
    rejects('(Vx\nVlatin1\ntR.', /^pickle opcode REDUCE is not allowed/);
    rejects('c_codecs\nencode\n.', /not hold exactly one string/);
  });

  test('EMPTY_TUPLE and TUPLE2 build only the arguments of bytes, never a message', () => {
    rejects(')', /no STOP/);
    rejects(').', /tuple of 0 items/);
    rejects('Va\nVb\n\x86.', /tuple of 2 items/);
    rejects('Va\n\x86.', /TUPLE2 needs two strings/);
  });
});

describe('refusing malformed pickles', () => {
  const cases: [string, string, RegExp][] = [
    ['empty input', '', /^empty pickle$/],
    ['no STOP', '\x80\x02X\x02\x00\x00\x00hi', /no STOP/],
    ['a length running past the end', '\x80\x02X\xff\x00\x00\x00hi.', /^BINUNICODE data runs past the end of the pickle$/],
    ['a SHORT_BINUNICODE length running past the end', '\x8c\x09hi.', /SHORT_BINUNICODE data runs past/],
    ['a BINUNICODE8 length running past the end', '\x8d\xff\xff\xff\xff\xff\xff\xff\xffhi.', /BINUNICODE8 data runs past/],
    ['a BINBYTES8 length running past the end', '\x8e\xff\x00\x00\x00\x00\x00\x00\x00hi.', /BINBYTES8 data runs past/],
    ['a FRAME longer than the pickle', '\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00\x8c\x02hi\x94.', /FRAME length runs past/],
    ['a truncated length field', '\x80\x02X\x02\x00', /^BINUNICODE length field runs past the end of the pickle$/],
    ['bytes after STOP', '\x80\x02X\x02\x00\x00\x00hiq\x00.junk', /^4 bytes after STOP$/],
    // Python refuses these too: it writes text as UTF-8 (lone surrogates aside).
    ['invalid UTF-8 as text', '\x80\x02X\x02\x00\x00\x00\xc3\x28.', /^BINUNICODE is not valid UTF-8$/],
    ['Latin-1 as text', '\x8c\x04caf\xe9.', /^SHORT_BINUNICODE is not valid UTF-8$/],
    ['a surrogate cut short', '\x80\x02X\x02\x00\x00\x00\xed\xa0.', /^BINUNICODE is not valid UTF-8$/],
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
    ['a 2-tuple built with TUPLE', '(X\x01\x00\x00\x00aX\x01\x00\x00\x00bt.', /tuple of 2 items/],
    ['a 3-tuple built with TUPLE', '(X\x01\x00\x00\x00aX\x01\x00\x00\x00bX\x01\x00\x00\x00ct.', /TUPLE of 3 items/],
    ['an empty tuple built with TUPLE', '(t.', /tuple of 0 items/],
    ['a tuple of a tuple', 'X\x01\x00\x00\x00a\x85\x85.', /TUPLE1 needs a string/],
    ['TUPLE without MARK', 'X\x01\x00\x00\x00at.', /TUPLE without a MARK/],
    ['MEMOIZE with nothing to store', '\x80\x04\x94.', /MEMOIZE with nothing to store/],
    ['deep MARK nesting', `${'('.repeat(100_000)}.`, /nests too deeply/],
  ];
  for (const [name, pickle, reason] of cases) {
    test(name, () => rejects(pickle, reason));
  }

  test('deep nesting of a megabyte is refused in linear time, at the first opcode too many', () => {
    // Refused at depth 6, so the cost does not depend on the rest.
    const marks = Buffer.alloc(1024 * 1024, '(');
    rejects(marks, /nests too deeply/);
  });
});

describe('properties', () => {
  test('random strings round-trip in both shapes and every string type', () => {
    const random = new SeededRandom(2);
    for (let i = 0; i < 2000; i++) {
      const text = random.text(300);
      const shape = random.pick(['str', 'tuple'] as const);
      const stringType = random.pick(['unicode', 'bytestring', 'bytes'] as const);
      assert.deepEqual(decodePickle(encodePickle(text, shape, stringType)), { text, shape, stringType });
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
