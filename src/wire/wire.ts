// The original's wire format: every message is one frame, an 8-byte header
// and then a pickle of the message.
//
// The header is what `struct.pack("L", socket.htonl(len(data)))` writes on
// 64-bit Linux: `L` is an 8-byte little-endian `unsigned long`, and htonl has
// already swapped the length's four bytes, so the wire holds the length
// big-endian in bytes 0-3 and zeros in bytes 4-7.

import { decodePickle, encodePickle, ProtocolError, type DecodedPickle, type PickleForm, type PickleShape, type StringType } from './pickle.js';

export { ProtocolError, type DecodedPickle, type PickleForm, type PickleShape, type StringType };

export const HEADER_SIZE = 8;
export const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024;

/** One whole frame (header and pickle) for a message in the peer's form, ready to write. */
export function frame(message: string, shape: PickleShape = 'str', stringType: StringType = 'unicode'): Buffer {
  // The recipe's channel.send(size) and channel.send(data), in one buffer.
  const framed = encodePickle(message, shape, stringType, HEADER_SIZE); // data = pickle.dumps(msg)
  framed.writeUInt32BE(framed.length - HEADER_SIZE, 0); //                size = struct.pack("L", socket.htonl(len(data)))
  framed.writeUInt32BE(0, 4);
  return framed;
}

/** Limits a FrameDecoder applies to the frames it reassembles. */
export interface FrameLimits {
  /** The largest payload any frame may announce. */
  maxFrameSize: number;
  /** The largest payload the first frame may announce: a handshake is
   * small, so a stranger cannot make the server hold much before it has
   * said who it is. */
  maxFirstFrameSize?: number;
}

/** A chunk shorter than this is copied into a shared buffer rather than
 * kept as it came (see `FrameDecoder.keepSmall`). */
const COMPACT_BELOW = 512;
/** The size of the buffer small chunks are copied into, in bytes. */
const COMPACT_CAPACITY = 4096;

/** Reassembles frames from a stream that arrives in arbitrary chunks: one
 * byte at a time, many frames at once, or anything between.
 *
 * The chunks are kept as they came, and a frame is cut out of them only
 * when it is taken: a peer that sends a hundred thousand tiny frames costs
 * its bytes, not a hundred thousand objects, and taking the next frame
 * costs the same however many wait behind it. As the bytes arrive they are
 * only scanned, header to header, to know how many frames are whole, to
 * refuse a bad header at once, and to tell when a frame has begun. */
export class FrameDecoder {
  readonly maxFrameSize: number;
  readonly maxFirstFrameSize: number;
  /** The bytes not yet taken, in the chunks they came in, from `chunks[first]`
   * on; `offset` bytes of that first chunk are taken already. */
  private chunks: Buffer[] = [];
  private first = 0;
  private offset = 0;
  private keptBytes = 0;
  /** Where small chunks are copied together, and the part of it in use,
   * which is the last of `chunks` while more may be copied in. */
  private compactStore: Buffer | undefined;
  private compacted: Buffer | undefined;
  /** Whole frames among the bytes kept. */
  private wholeFrames = 0;
  /** The last frame begun, as far as its bytes have come: its header, then
   * how much of its payload is still to come. A buffer of the announced size
   * is never allocated: a header alone would make the decoder hold what the
   * peer only promised. */
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerFilled = 0;
  private payloadToCome = 0;
  private started = 0;
  private failure: ProtocolError | undefined;

  constructor(limits: number | FrameLimits = DEFAULT_MAX_FRAME_SIZE) {
    const { maxFrameSize, maxFirstFrameSize } = typeof limits === 'number' ? { maxFrameSize: limits } : limits;
    this.maxFrameSize = maxFrameSize;
    this.maxFirstFrameSize = Math.min(maxFirstFrameSize ?? maxFrameSize, maxFrameSize);
  }

  /** Takes in bytes as they arrive. Never throws: a malformed header is kept
   * and reported by `next()` once the frames before it have been taken; the
   * bytes after it are dropped. */
  push(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    const scanned = this.scan(chunk);
    if (scanned === 0) return;
    const kept = scanned === chunk.length ? chunk : chunk.subarray(0, scanned);
    if (kept.length < COMPACT_BELOW) this.keepSmall(kept);
    else this.chunks.push(kept);
    this.keptBytes += scanned;
  }

  /** Pieces the kept bytes are in: each is a Buffer object, which costs
   * memory beyond its bytes. */
  get keptChunks(): number {
    return this.chunks.length - this.first;
  }

  /** Copies a small chunk to the end of a buffer small chunks share. A peer
   * on a slow link (or one that sends a byte at a time) makes one chunk of
   * each read; kept as they came, a 2 KB frame would be 2,000 Buffers. */
  private keepSmall(bytes: Buffer): void {
    const view = this.compacted;
    const store = this.compactStore;
    if (view !== undefined && store !== undefined && this.chunks[this.chunks.length - 1] === view && view.length + bytes.length <= store.length) {
      bytes.copy(store, view.length);
      this.compacted = store.subarray(0, view.length + bytes.length);
      this.chunks[this.chunks.length - 1] = this.compacted;
      return;
    }
    // A new store: an old one may still be referenced by a frame taken from it.
    this.compactStore = Buffer.allocUnsafeSlow(COMPACT_CAPACITY);
    bytes.copy(this.compactStore, 0);
    this.compacted = this.compactStore.subarray(0, bytes.length);
    this.chunks.push(this.compacted);
  }

  /** The next whole frame's payload, or undefined if none is complete yet.
   * Throws the ProtocolError that ended the stream once it is reached. */
  next(): Buffer | undefined {
    if (this.wholeFrames === 0) {
      if (this.failure !== undefined) throw this.failure;
      return undefined;
    }
    this.wholeFrames -= 1;
    const size = this.take(HEADER_SIZE).readUInt32BE(0);
    return this.take(size);
  }

  /** A whole frame, or an error, waits to be taken. */
  get ready(): boolean {
    return this.wholeFrames > 0 || this.failure !== undefined;
  }

  /** Bytes kept: whole frames not yet taken, and the part of the next one. */
  get bufferedBytes(): number {
    return this.keptBytes;
  }

  /** Frames whose first byte has arrived, the one being filled included. */
  get framesStarted(): number {
    return this.started;
  }

  /** Part of a frame has arrived and the rest has not. */
  get incomplete(): boolean {
    return this.headerFilled > 0 && this.failure === undefined;
  }

  /** Walks a new chunk from header to header; returns how many of its bytes
   * to keep (all of them, unless a bad header ends the stream). */
  private scan(chunk: Buffer): number {
    let at = 0;
    while (at < chunk.length) {
      if (this.headerFilled < HEADER_SIZE) {
        if (this.headerFilled === 0) this.started += 1;
        // A header inside the chunk is read where it is; one split between
        // chunks is put together first.
        let header = chunk;
        let headerAt = at;
        if (this.headerFilled > 0 || chunk.length - at < HEADER_SIZE) {
          const copied = chunk.copy(this.header, this.headerFilled, at, at + HEADER_SIZE - this.headerFilled);
          this.headerFilled += copied;
          at += copied;
          if (this.headerFilled < HEADER_SIZE) break;
          header = this.header;
          headerAt = 0;
        } else {
          this.headerFilled = HEADER_SIZE;
          at += HEADER_SIZE;
        }
        const size = this.checkHeader(header, headerAt);
        if (size === undefined) break;
        this.payloadToCome = size;
      }
      const part = Math.min(this.payloadToCome, chunk.length - at);
      at += part;
      this.payloadToCome -= part;
      if (this.payloadToCome === 0) {
        this.wholeFrames += 1;
        this.headerFilled = 0;
      }
    }
    return at;
  }

  /** The payload size the header announces, or undefined after recording
   * why the header is unacceptable. */
  private checkHeader(header: Buffer, at: number): number | undefined {
    const size = header.readUInt32BE(at);
    const first = this.started === 1;
    const limit = first ? this.maxFirstFrameSize : this.maxFrameSize;
    if (header.readUInt32BE(at + 4) !== 0) {
      this.failure = new ProtocolError(`frame header bytes 4-7 must be zero, got ${header.subarray(at + 4, at + 8).toString('hex')}`);
    } else if (size > limit) {
      const which = first && limit < this.maxFrameSize ? 'first frame' : 'frame';
      this.failure = new ProtocolError(`${which} of ${size} bytes is over the limit of ${limit}`);
    } else {
      return size;
    }
    return undefined;
  }

  /** The next `size` bytes kept: a slice of the chunk they came in, or, when
   * they came in several, a copy of them joined. */
  private take(size: number): Buffer {
    this.keptBytes -= size;
    const chunk = this.chunks[this.first];
    if (chunk !== undefined && chunk.length - this.offset >= size) {
      const bytes = chunk.subarray(this.offset, this.offset + size);
      this.advance(chunk, size);
      return bytes;
    }
    const parts: Buffer[] = [];
    for (let wanted = size; wanted > 0; ) {
      const chunk = this.chunks[this.first]!;
      const part = chunk.subarray(this.offset, this.offset + wanted);
      parts.push(part);
      wanted -= part.length;
      this.advance(chunk, part.length);
    }
    return Buffer.concat(parts, size);
  }

  /** Marks `size` bytes of the first chunk taken. A chunk used up is let go
   * at once; the list itself is cut short once most of it is used up, so
   * that each chunk costs the same to pass, however many follow it. */
  private advance(chunk: Buffer, size: number): void {
    this.offset += size;
    if (this.offset < chunk.length) return;
    this.chunks[this.first] = EMPTY;
    this.first += 1;
    this.offset = 0;
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
      // The next small chunk gets a new store anyway (keepSmall appends only
      // to the last chunk kept), so this one is let go with the bytes: kept,
      // every connection that ever sent a small frame would hold 4 KiB
      // (10,000 clients in a join storm: 40 MB).
      this.compactStore = undefined;
      this.compacted = undefined;
    } else if (this.first >= 1024 && this.first * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** What `send` and `receive` need of a connection. */
export interface Channel {
  write(data: Buffer): void;
  /** The next whole frame's pickle from the inbox, if one is there. */
  nextFrame(): Buffer | undefined;
  readonly inbox: FrameDecoder;
  /** The peer closed its side of the stream. */
  readonly ended: boolean;
  /** The connection failed (reset, broken pipe...). */
  readonly error: Error | undefined;
}

/** The original's `send(channel, *args)`. */
export function send(channel: Channel, message: string, shape: PickleShape = 'str', stringType: StringType = 'unicode'): void {
  // channel.send(size); channel.send(data): Node's write() never blocks and
  // never writes half, so one buffered write of the whole frame does both.
  channel.write(frame(message, shape, stringType));
}

/** The original's `receive(channel)`: the next message, or null once the
 * peer has hung up. Call it only on a channel that select() reported
 * readable; the bytes are already here, so unlike `channel.recv` it never
 * waits. Throws ProtocolError for a malformed frame and the socket's own
 * error for a broken connection. */
export function receive(channel: Channel): DecodedPickle | null {
  const data = channel.nextFrame(); //      size = ntohl(struct.unpack("L", channel.recv(8))[0]); data = channel.recv(size)
  if (data !== undefined) return decodePickle(data); // return pickle.loads(data)
  if (channel.error !== undefined) throw channel.error;
  if (!channel.ended) throw new Error('receive() on a channel with nothing to read');
  if (channel.inbox.incomplete) throw new ProtocolError('frame cut off by end of stream');
  return null;
}
