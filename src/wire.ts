// The original's wire format: every message is one frame, an 8-byte header
// and then a pickle of the message.
//
// The header is what `struct.pack("L", socket.htonl(len(data)))` writes on
// 64-bit Linux: `L` is an 8-byte little-endian `unsigned long`, and htonl has
// already swapped the length's four bytes, so the wire holds the length
// big-endian in bytes 0-3 and zeros in bytes 4-7.

import { decodePickle, encodePickle, ProtocolError, type DecodedPickle, type PickleShape } from './pickle.js';

export { ProtocolError, type DecodedPickle, type PickleShape };

export const HEADER_SIZE = 8;
export const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024;

/** One whole frame (header and pickle) for a message, ready to write. */
export function frame(message: string, shape: PickleShape = 'str'): Buffer {
  const data = encodePickle(message, shape); //       data = pickle.dumps(msg)
  const size = Buffer.alloc(HEADER_SIZE); //          size = struct.pack("L", socket.htonl(len(data)))
  size.writeUInt32BE(data.length, 0);
  return Buffer.concat([size, data], HEADER_SIZE + data.length);
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

/** Reassembles frames from a stream that arrives in arbitrary chunks: one
 * byte at a time, many frames at once, or anything between. */
export class FrameDecoder {
  readonly maxFrameSize: number;
  readonly maxFirstFrameSize: number;
  private readonly frames: Buffer[] = [];
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerFilled = 0;
  /** The announced payload size of the frame being filled, once its header is whole. */
  private payloadSize: number | undefined;
  /** The payload's pieces so far. A buffer of the announced size is never
   * allocated up front: a header alone would make the decoder hold what the
   * peer only promised. */
  private payloadParts: Buffer[] = [];
  private payloadFilled = 0;
  private started = 0;
  private queuedBytes = 0;
  private failure: ProtocolError | undefined;

  constructor(limits: number | FrameLimits = DEFAULT_MAX_FRAME_SIZE) {
    const { maxFrameSize, maxFirstFrameSize } = typeof limits === 'number' ? { maxFrameSize: limits } : limits;
    this.maxFrameSize = maxFrameSize;
    this.maxFirstFrameSize = Math.min(maxFirstFrameSize ?? maxFrameSize, maxFrameSize);
  }

  /** Takes in bytes as they arrive. Never throws: a malformed header is kept
   * and reported by `next()` once the frames before it have been taken. */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.failure === undefined) {
      if (this.payloadSize === undefined) {
        at += this.fillHeader(chunk, at);
      } else {
        at += this.fillPayload(chunk, at);
      }
    }
  }

  /** The next whole frame's payload, or undefined if none is complete yet.
   * Throws the ProtocolError that ended the stream once it is reached. */
  next(): Buffer | undefined {
    const payload = this.frames.shift();
    if (payload !== undefined) {
      this.queuedBytes -= payload.length;
      return payload;
    }
    if (this.failure !== undefined) throw this.failure;
    return undefined;
  }

  /** A whole frame, or an error, waits to be taken. */
  get ready(): boolean {
    return this.frames.length > 0 || this.failure !== undefined;
  }

  /** Bytes held: whole frames not yet taken, and the part of the next one. */
  get bufferedBytes(): number {
    return this.queuedBytes + this.headerFilled + this.payloadFilled;
  }

  /** Frames whose first byte has arrived, the one being filled included. */
  get framesStarted(): number {
    return this.started;
  }

  /** Part of a frame has arrived and the rest has not. */
  get incomplete(): boolean {
    return this.headerFilled > 0 && this.failure === undefined;
  }

  private fillHeader(chunk: Buffer, at: number): number {
    if (this.headerFilled === 0) this.started += 1;
    const copied = chunk.copy(this.header, this.headerFilled, at, at + HEADER_SIZE - this.headerFilled);
    this.headerFilled += copied;
    if (this.headerFilled < HEADER_SIZE) return copied;
    const size = this.checkHeader(this.header);
    if (size === undefined) return copied;
    const payloadStart = at + copied;
    if (chunk.length - payloadStart >= size) {
      // The whole payload is in this chunk: slice it instead of copying.
      this.queue(chunk.subarray(payloadStart, payloadStart + size));
      return copied + size;
    }
    this.payloadSize = size;
    return copied;
  }

  private fillPayload(chunk: Buffer, at: number): number {
    const wanted = this.payloadSize! - this.payloadFilled;
    const part = chunk.subarray(at, at + wanted);
    this.payloadParts.push(part);
    this.payloadFilled += part.length;
    if (this.payloadFilled === this.payloadSize) this.queue(Buffer.concat(this.payloadParts, this.payloadFilled));
    return part.length;
  }

  /** The payload size the header announces, or undefined after recording
   * why the header is unacceptable. */
  private checkHeader(header: Buffer): number | undefined {
    const size = header.readUInt32BE(0);
    const first = this.started === 1;
    const limit = first ? this.maxFirstFrameSize : this.maxFrameSize;
    if (header.readUInt32BE(4) !== 0) {
      this.failure = new ProtocolError(`frame header bytes 4-7 must be zero, got ${header.subarray(4).toString('hex')}`);
    } else if (size > limit) {
      const which = first && limit < this.maxFrameSize ? 'first frame' : 'frame';
      this.failure = new ProtocolError(`${which} of ${size} bytes is over the limit of ${limit}`);
    } else {
      return size;
    }
    return undefined;
  }

  private queue(payload: Buffer): void {
    this.frames.push(payload);
    this.queuedBytes += payload.length;
    this.headerFilled = 0;
    this.payloadSize = undefined;
    this.payloadParts = [];
    this.payloadFilled = 0;
  }
}

/** What `send` and `receive` need of a connection. */
export interface Channel {
  write(data: Buffer): void;
  readonly inbox: FrameDecoder;
  /** The peer closed its side of the stream. */
  readonly ended: boolean;
  /** The connection failed (reset, broken pipe...). */
  readonly error: Error | undefined;
}

/** The original's `send(channel, *args)`. */
export function send(channel: Channel, message: string, shape: PickleShape = 'str'): void {
  // channel.send(size); channel.send(data): Node's write() never blocks and
  // never writes half, so one buffered write of the whole frame does both.
  channel.write(frame(message, shape));
}

/** The original's `receive(channel)`: the next message, or null once the
 * peer has hung up. Call it only on a channel that select() reported
 * readable; the bytes are already here, so unlike `channel.recv` it never
 * waits. Throws ProtocolError for a malformed frame and the socket's own
 * error for a broken connection. */
export function receive(channel: Channel): DecodedPickle | null {
  const data = channel.inbox.next(); //    size = ntohl(struct.unpack("L", channel.recv(8))[0]); data = channel.recv(size)
  if (data !== undefined) return decodePickle(data); // return pickle.loads(data)
  if (channel.error !== undefined) throw channel.error;
  if (!channel.ended) throw new Error('receive() on a channel with nothing to read');
  if (channel.inbox.incomplete) throw new ProtocolError('frame cut off by end of stream');
  return null;
}
