// Hand-made frames for tests that need bytes the project would never write.

import { HEADER_SIZE } from '../../src/wire/wire.js';

/** A frame header announcing `length` bytes, with `tail` in bytes 4-7. */
export function header(length: number, tail = 0): Buffer {
  const bytes = Buffer.alloc(HEADER_SIZE);
  bytes.writeUInt32BE(length, 0);
  bytes.writeUInt32BE(tail, 4);
  return bytes;
}

/** A well-formed header around arbitrary payload bytes (a string is Latin-1). */
export function rawFrame(payload: Buffer | string): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  return Buffer.concat([header(bytes.length), bytes]);
}
