import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodePickle } from '../src/wire/pickle.js';
import { FrameDecoder, frame, HEADER_SIZE, ProtocolError, receive, send, type Channel } from '../src/wire/wire.js';
import { loadPickleFixtures } from './helpers/fixtures.js';
import { header } from './helpers/frames.js';
import { SeededRandom } from './helpers/random.js';

/** A channel with no socket behind it: what was written, and an inbox fed by hand. */
function fakeChannel(): Channel & { written: Buffer[]; ended: boolean; error: Error | undefined } {
  const written: Buffer[] = [];
  const inbox = new FrameDecoder();
  return { written, inbox, nextFrame: () => inbox.next(), ended: false, error: undefined, write: (data) => written.push(data) };
}

function takeAll(decoder: FrameDecoder): Buffer[] {
  const frames: Buffer[] = [];
  for (let payload = decoder.next(); payload !== undefined; payload = decoder.next()) frames.push(payload);
  return frames;
}

function failureOf(decoder: FrameDecoder): string {
  try {
    decoder.next();
  } catch (error) {
    assert.ok(error instanceof ProtocolError);
    return error.reason;
  }
  assert.fail('expected the decoder to report a ProtocolError');
}

describe('the frame header', () => {
  test('is the length big-endian in bytes 0-3 and zeros in bytes 4-7', () => {
    // What struct.pack("L", socket.htonl(38)) writes on 64-bit Linux.
    // A protocol-2 pickle of a string is 10 bytes plus the string's UTF-8.
    const written = frame('x'.repeat(28), 'str');
    assert.equal(written.length - HEADER_SIZE, 38);
    assert.deepEqual(written.subarray(0, HEADER_SIZE), Buffer.from('0000002600000000', 'hex'));
  });

  test("send writes the header and Python's protocol-2 pickle in one write", () => {
    const channel = fakeChannel();
    send(channel, 'hi');
    assert.deepEqual(channel.written, [Buffer.from('0000000c00000000' + '80025802000000686971002e', 'hex')]);
  });

  test('send writes the tuple shape when asked', () => {
    const channel = fakeChannel();
    send(channel, 'hi', 'tuple');
    assert.deepEqual(channel.written, [Buffer.from('0000000f00000000' + '80025802000000686971008571012e', 'hex')]);
  });
});

describe('reassembling frames', () => {
  const frames = ['NAME: alice', 'hello', '', '你好 😀', 'x'.repeat(70_000)].map((text) => frame(text));
  const stream = Buffer.concat(frames);

  test('many frames in one chunk', () => {
    const decoder = new FrameDecoder();
    decoder.push(stream);
    assert.deepEqual(
      takeAll(decoder),
      frames.map((f) => f.subarray(HEADER_SIZE)),
    );
  });

  test('one byte at a time', () => {
    const decoder = new FrameDecoder();
    const seen: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) {
      decoder.push(stream.subarray(i, i + 1));
      seen.push(...takeAll(decoder));
    }
    assert.deepEqual(
      seen,
      frames.map((f) => f.subarray(HEADER_SIZE)),
    );
    assert.equal(decoder.bufferedBytes, 0);
  });

  test('a partial frame is not ready, and says it is partial', () => {
    const decoder = new FrameDecoder();
    decoder.push(frames[0]!.subarray(0, 12));
    assert.equal(decoder.ready, false);
    assert.equal(decoder.incomplete, true);
    assert.equal(decoder.next(), undefined);
    decoder.push(frames[0]!.subarray(12));
    assert.equal(decoder.ready, true);
    assert.equal(decoder.incomplete, false);
  });

  test('a zero-length frame is a frame (the pickle decoder refuses it)', () => {
    const decoder = new FrameDecoder();
    decoder.push(header(0));
    assert.deepEqual(takeAll(decoder), [Buffer.alloc(0)]);
  });

  test('a length over the limit is refused from the header alone', () => {
    const decoder = new FrameDecoder(1024 * 1024);
    decoder.push(header(0xffffffff));
    assert.equal(decoder.ready, true);
    assert.equal(failureOf(decoder), 'frame of 4294967295 bytes is over the limit of 1048576');
    assert.equal(decoder.bufferedBytes, HEADER_SIZE, 'no buffer of the announced size was allocated');
  });

  test('the limit is a parameter, and a frame at the limit is fine', () => {
    const decoder = new FrameDecoder(16);
    decoder.push(Buffer.concat([header(16), Buffer.alloc(16), header(17)]));
    assert.equal(decoder.next()?.length, 16);
    assert.equal(failureOf(decoder), 'frame of 17 bytes is over the limit of 16');
  });

  test('a header within the limit costs nothing until its bytes arrive', () => {
    const decoder = new FrameDecoder(1024 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    const decoders = Array.from({ length: 200 }, () => new FrameDecoder(1024 * 1024));
    for (const each of decoders) each.push(Buffer.concat([header(1024 * 1024), Buffer.alloc(10)]));
    // 200 promised megabytes would show; 200 × 18 bytes do not.
    assert.ok(process.memoryUsage().arrayBuffers - before < 10 * 1024 * 1024);
    decoder.push(Buffer.concat([header(1024 * 1024), Buffer.alloc(10)]));
    assert.equal(decoder.bufferedBytes, HEADER_SIZE + 10);
    assert.equal(decoder.incomplete, true);
  });

  test('the first frame has its own, smaller limit', () => {
    const decoder = new FrameDecoder({ maxFrameSize: 1024, maxFirstFrameSize: 16 });
    decoder.push(Buffer.concat([header(16), Buffer.alloc(16), header(1024)]));
    assert.equal(decoder.next()?.length, 16);
    assert.equal(decoder.ready, false, 'the second frame may be as large as the general limit');
    const stranger = new FrameDecoder({ maxFrameSize: 1024, maxFirstFrameSize: 16 });
    stranger.push(header(17));
    assert.equal(failureOf(stranger), 'first frame of 17 bytes is over the limit of 16');
  });

  test('nonzero bytes 4-7 are refused', () => {
    const decoder = new FrameDecoder();
    decoder.push(header(2, 0x01000000));
    assert.equal(failureOf(decoder), 'frame header bytes 4-7 must be zero, got 01000000');
  });

  test('frames before a bad header are still delivered, and input after it is dropped', () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.concat([frames[1]!, header(5, 7), frames[1]!]));
    assert.deepEqual(decoder.next(), frames[1]!.subarray(HEADER_SIZE));
    assert.match(failureOf(decoder), /bytes 4-7/);
    assert.match(failureOf(decoder), /bytes 4-7/, 'the failure stays');
  });

  test('a flood of 160,000 tiny frames comes out whole and in order, taken while more arrive', () => {
    // What a client sending short lines flat out leaves in an inbox. (How
    // long the take costs is for `npx tsx scripts/bench/decoder.ts`.)
    const COUNT = 160_000;
    const stream = Buffer.concat(Array.from({ length: COUNT }, (_, i) => frame(String(i))));
    const decoder = new FrameDecoder();
    let expected = 0;
    const takeSome = (limit: number) => {
      for (let taken = 0; taken < limit; taken++) {
        const payload = decoder.next();
        if (payload === undefined) return;
        assert.equal(decodePickle(payload).text, String(expected++));
      }
    };
    // Chunks of 7 bytes split most headers; of 65,536 bytes hold thousands of frames.
    for (const chunkSize of [65_536, 7]) {
      for (let at = 0; at < stream.length; at += chunkSize) {
        decoder.push(stream.subarray(at, at + chunkSize));
        takeSome(3);
      }
      takeSome(Infinity);
      assert.equal(expected, COUNT);
      assert.equal(decoder.bufferedBytes, 0);
      expected = 0;
    }
  });

  test('taking a frame lets go of exactly its bytes', () => {
    const decoder = new FrameDecoder();
    const [one, two, three] = [frame('one'), frame('two'), frame('three')];
    decoder.push(Buffer.concat([one!, two!.subarray(0, 3)]));
    decoder.push(Buffer.concat([two!.subarray(3), three!.subarray(0, 9)]));
    assert.equal(decoder.bufferedBytes, one!.length + two!.length + 9);
    assert.equal(decoder.framesStarted, 3);
    decoder.next();
    assert.equal(decoder.bufferedBytes, two!.length + 9);
    assert.equal(decodePickle(decoder.next()!).text, 'two', 'a frame split between chunks is joined');
    assert.equal(decoder.bufferedBytes, 9);
    assert.equal(decoder.next(), undefined);
    assert.equal(decoder.incomplete, true);
    assert.equal(decoder.framesStarted, 3, 'taking does not count again');
  });

  test('an inbox whose small frames are all taken keeps no buffer for them', async () => {
    // 10,000 connections that each sent their name and went quiet, as in a join storm.
    const decoders = Array.from({ length: 10_000 }, () => new FrameDecoder());
    const name = frame('NAME: alice');
    // What is kept, not what awaits the collector: V8's gc(), exposed for this.
    setFlagsFromString('--expose-gc');
    const collectGarbage = runInNewContext('gc') as () => void;
    collectGarbage();
    const before = process.memoryUsage().arrayBuffers;
    for (const decoder of decoders) {
      decoder.push(name);
      assert.equal(decodePickle(decoder.next()!).text, 'NAME: alice');
    }
    collectGarbage();
    // Node 24's V8 frees what an ArrayBuffer held on a thread of its own,
    // after the collection: a turn of the loop, and another collection,
    // let that finish before the count is read.
    await new Promise(setImmediate);
    collectGarbage();
    const heldPerInbox = (process.memoryUsage().arrayBuffers - before) / decoders.length;
    assert.ok(heldPerInbox < 1024, `each inbox holds ${heldPerInbox} bytes of buffers`);
  });
});

describe('receive', () => {
  test('returns the message, its shape and its string type', () => {
    const channel = fakeChannel();
    channel.inbox.push(frame('NAME: alice', 'tuple'));
    assert.deepEqual(receive(channel), { text: 'NAME: alice', shape: 'tuple', stringType: 'unicode' });
    channel.inbox.push(frame('NAME: Zoë', 'str', 'bytestring'));
    assert.deepEqual(receive(channel), { text: 'NAME: Zoë', shape: 'str', stringType: 'bytestring' });
  });

  test('returns null when the peer hung up between frames', () => {
    const channel = fakeChannel();
    channel.ended = true;
    assert.equal(receive(channel), null);
  });

  test('delivers what came before the end of stream first', () => {
    const channel = fakeChannel();
    channel.inbox.push(frame('last words'));
    channel.ended = true;
    assert.deepEqual(receive(channel), { text: 'last words', shape: 'str', stringType: 'unicode' });
    assert.equal(receive(channel), null);
  });

  test('a frame cut off by end of stream is an error', () => {
    const channel = fakeChannel();
    channel.inbox.push(frame('cut').subarray(0, 10));
    channel.ended = true;
    assert.throws(() => receive(channel), { name: 'ProtocolError', message: 'frame cut off by end of stream' });
  });

  test('a broken connection throws its own error', () => {
    const channel = fakeChannel();
    channel.error = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    assert.throws(() => receive(channel), { message: 'read ECONNRESET' });
  });

  test("Python's frames, whatever the protocol, come out as the text", () => {
    for (const fixture of loadPickleFixtures()) {
      const channel = fakeChannel();
      channel.inbox.push(Buffer.concat([header(fixture.pickle.length), fixture.pickle]));
      assert.deepEqual(receive(channel), { text: fixture.text, shape: fixture.shape, stringType: fixture.stringType }, fixture.name);
    }
  });
});

describe('properties', () => {
  test('random strings survive encode, any chunking, reassembly and decode', () => {
    const random = new SeededRandom(1);
    for (let round = 0; round < 300; round++) {
      const messages = Array.from({ length: 1 + random.below(20) }, () => ({
        text: random.text(200),
        shape: random.pick(['str', 'tuple'] as const),
        stringType: random.pick(['unicode', 'bytestring', 'bytes'] as const),
      }));
      const stream = Buffer.concat(messages.map((m) => frame(m.text, m.shape, m.stringType)));
      const decoder = new FrameDecoder();
      const received = [];
      for (let at = 0; at < stream.length; ) {
        const size = random.pick([1, 2, 7, 64, 1000, stream.length]);
        decoder.push(stream.subarray(at, at + size));
        at += size;
        for (const payload of takeAll(decoder)) received.push(decodePickle(payload));
      }
      assert.deepEqual(received, messages);
    }
  });

  test('mutated frames decode or raise ProtocolError, never anything else', () => {
    const random = new SeededRandom(4);
    for (let round = 0; round < 5000; round++) {
      const mutated = Buffer.from(frame(random.text(40), random.pick(['str', 'tuple'] as const)));
      for (let flips = 1 + random.below(4); flips > 0; flips--) mutated[random.below(mutated.length)] = random.below(256);
      const decoder = new FrameDecoder(4096);
      decoder.push(mutated);
      try {
        for (const payload of takeAll(decoder)) decodePickle(payload);
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `frame ${mutated.toString('hex')} threw ${String(error)}`);
      }
    }
  });
});
