// A recording of the loop's rounds: `--record FILE` writes one round per
// line of JSON, and `npm run replay -- FILE` reads them back. Both ends are
// here.
//
// A class's recording can be large (tens of thousands of rounds), so the
// replay never holds it whole: it reads the file once, keeping where each
// line starts and ends, and reads a window of rounds when the page asks.
//
// A recording holds everyone's chat, and a class is recorded again and
// again: the file is created readable by its owner only, and never written
// over. A name that exists already (a file, a symbolic link, anything) is
// refused, so that last week's recording is never lost and a link cannot
// send the recording into someone else's file; the teacher picks a new name.
// (Windows has no owner-only mode: there the file gets its folder's ACL.)
//
// A recording is only ever made of whole rounds. The server creates its
// file last of all, once everything else that can fail at start has
// succeeded, so a failed start leaves no file to refuse the next try (and
// never has one of its own to remove, which could remove someone else's
// file put in its place). A disk that fills up, or a file-size limit,
// stops the recording: the file is cut back to its last whole round and
// the server says so once; the chat goes on. A server killed mid-write
// may still leave a last line cut short: the replay leaves that line out
// and says so.

import { closeSync, constants, ftruncate, lstatSync, openSync, read, readSync, statSync, write } from 'node:fs';
import { dirname } from 'node:path';
import { whenCalled } from '../room/log.js';
import { howMany } from '../room/plural.js';
import { keepActions, type Round } from './trace.js';

/** Checks, creating nothing, that a recording could be created at `path`:
 * the name is free and its folder exists. Throws what createRecording
 * would. The server checks at once, so that a name in use is refused
 * before it listens, and creates the file only once it listens. */
export function checkRecordingName(path: string): void {
  try {
    lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotRecord(path, error);
    try {
      if (!statSync(dirname(path)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (error) {
      throw cannotRecord(path, error);
    }
    return;
  }
  throw cannotRecord(path, Object.assign(new Error('exists'), { code: 'EEXIST' }));
}

/** Opens a new file for a recording, readable and writable by its owner
 * only (POSIX; on Windows it gets its folder's permissions), and returns
 * its descriptor. Throws an Error whose message is one line naming the
 * file when the name exists already (a symbolic link is not followed) or
 * the file cannot be created. */
export function createRecording(path: string): number {
  // Windows ignores the mode, and Node has no O_NOFOLLOW there (undefined):
  // O_EXCL alone refuses a name that exists, a link included.
  const noFollow = constants.O_NOFOLLOW ?? 0;
  try {
    return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | noFollow, 0o600);
  } catch (error) {
    throw cannotRecord(path, error);
  }
}

function cannotRecord(path: string, error: unknown): Error {
  return new Error(`Cannot record to ${path}: ${whyNot(error as NodeJS.ErrnoException)}`);
}

function whyNot(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EEXIST':
    case 'ELOOP':
      return 'it exists already, and a recording never replaces a file: give a new name';
    case 'ENOENT':
    case 'ENOTDIR':
      return 'its folder does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return error.code ?? error.message;
  }
}

/** Bytes of rounds kept while the disk is not taking them (a stalled
 * network disk, say); past this, the recording stops. */
export const RECORDING_QUEUE_BYTES = 16 * 1024 * 1024;

/** Writes rounds to a recording's file, whole rounds only, without ever
 * blocking the loop: like the log (src/room/log.ts), with fs.write on Node's
 * thread pool. Each write is placed at the end of what is known written,
 * so that the writer always knows how many bytes, and rounds, the file
 * holds whole. When a write fails (ENOSPC: the disk is full; EFBIG: a
 * file-size limit, `ulimit -f`; Node ignores SIGXFSZ, so the write fails
 * rather than the process dying), the file is truncated back to its last
 * whole round, the recording stops, and `onStop` is told once, in a line
 * that says why. */
export class RecordingWriter {
  /** Lines waiting, each one round, newline included. */
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;
  /** Why the recording stopped, once it has; said once the last write is over. */
  private stopped: { why: string; cut: string } | undefined;
  private closed = false;
  /** Bytes at the start of the file that hold whole rounds, and how many. */
  private wholeBytes = 0;
  private wholeRounds = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly path: string,
    private readonly fd: number,
    /** Told once, with one line, if the recording stops before the server does. */
    private readonly onStop: (line: string) => void,
    private readonly maxQueuedBytes = RECORDING_QUEUE_BYTES,
  ) {}

  /** Records one round. Never blocks, never throws; once the recording
   * has stopped, does nothing. */
  readonly add = (round: Round): void => {
    if (this.stopped) return;
    const line = Buffer.from(`${JSON.stringify(round)}\n`, 'utf8');
    if (this.queuedBytes + line.length > this.maxQueuedBytes) {
      this.stop(`the disk did not keep up (${this.queuedBytes} bytes of rounds were waiting to be written, the most kept)`);
      return;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    if (!this.writing) this.writeQueued();
  };

  /** Resolves once every round added has been written (or the recording
   * has stopped), or after `timeoutMs`, whichever is first. */
  flushed(timeoutMs: number): Promise<void> {
    return this.writing ? whenCalled(this.idleWaiters, timeoutMs) : Promise.resolve();
  }

  private writeQueued(): void {
    if (this.stopped !== undefined || this.queue.length === 0) {
      this.writing = false;
      if (this.stopped !== undefined && !this.closed) this.close(this.stopped);
      for (const waiter of this.idleWaiters.splice(0)) waiter();
      return;
    }
    this.writing = true;
    const rounds = this.queue.length;
    const batch = Buffer.concat(this.queue.splice(0));
    this.queuedBytes = 0;
    this.writeFrom(batch, 0, rounds);
  }

  /** Writes the rest of a batch of whole rounds, from byte `from` of it. */
  private writeFrom(batch: Buffer, from: number, rounds: number): void {
    write(this.fd, batch, from, batch.length - from, this.wholeBytes + from, (error, written) => {
      if (error || written === 0) {
        this.failed(error ?? Object.assign(new Error('the disk took nothing'), { code: 'EIO' }));
      } else if (from + written < batch.length) {
        // A short write: the file may be at its limit, and the next write
        // says so; or the disk simply took less this time.
        this.writeFrom(batch, from + written, rounds);
      } else {
        this.wholeBytes += batch.length;
        this.wholeRounds += rounds;
        this.writeQueued();
      }
    });
  }

  /** A write failed: the file goes back to its last whole round. */
  private failed(error: NodeJS.ErrnoException): void {
    ftruncate(this.fd, this.wholeBytes, (truncateError) => {
      this.stop(whyStopped(error));
      if (truncateError) {
        this.stopped!.cut =
          `; it could not be cut back to its last whole round (${truncateError.code ?? truncateError.message}), so its last line may be cut short, which the replay leaves out`;
      }
      this.writeQueued();
    });
  }

  /** Nothing more is written; the first reason given is the one said. */
  private stop(why: string): void {
    this.stopped ??= { why, cut: '' };
    this.queue = [];
    this.queuedBytes = 0;
    if (!this.writing) this.writeQueued();
  }

  /** The last write is over: the file is closed, and the stop said. */
  private close({ why, cut }: { why: string; cut: string }): void {
    this.closed = true;
    closeSync(this.fd);
    const kept = this.wholeRounds === 0 ? 'no round' : `its first ${howMany(this.wholeRounds, 'round')}, each whole`;
    this.onStop(`Chat server: stopped recording to ${this.path}: ${why}. It keeps ${kept}${cut}; the chat goes on`);
  }
}

function whyStopped(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOSPC':
      return 'the disk is full (ENOSPC)';
    case 'EFBIG':
      return 'the file is as large as this system lets a file grow (EFBIG: a file-size limit, such as ulimit -f)';
    case 'EDQUOT':
      return 'the disk quota is used up (EDQUOT)';
    default:
      return `a write failed (${error.code ?? error.message})`;
  }
}

/** The rounds of a run, read a window at a time. */
export interface Recording {
  /** Rounds in it. */
  readonly total: number;
  /** The recording's last line, when it was cut short (the server was
   * killed, or its disk filled, in the middle of writing it): which line
   * it is, from 1, and its bytes. It is left out of the rounds. */
  readonly cut?: CutLine;
  /** At most `count` rounds from position `from` (0 is the first). */
  read(from: number, count: number): Round[];
}

export interface CutLine {
  line: number;
  bytes: number;
}

/** Rounds already in memory, as a recording. */
export function recordingOf(rounds: readonly Round[]): Recording {
  return { total: rounds.length, read: (from, count) => rounds.slice(from, from + count) };
}

/** The longest line taken as a round, in bytes. A round's record is a
 * few kilobytes (at most 100 actions and 200 names per list); a longer
 * line is not one. */
const LONGEST_LINE = 16 * 1024 * 1024;

/** A recording in a file, read as the page asks for rounds. */
export class RecordingFile implements Recording {
  private constructor(
    private readonly path: string,
    private readonly fd: number,
    /** Where each round's line starts and ends, in bytes: 16 bytes a round. */
    private readonly starts: number[],
    private readonly ends: number[],
    readonly cut: CutLine | undefined,
  ) {}

  /** Reads the file through once, checking that every line is a round.
   * Throws an Error naming the file and the line when one is not, except
   * for a last line with no newline after it: that one was cut short as it
   * was written, and every whole round before it replays. */
  static async open(path: string): Promise<RecordingFile> {
    const fd = openSync(path, constants.O_RDONLY);
    const starts: number[] = [];
    const ends: number[] = [];
    let line = 0;
    let cut: CutLine | undefined;
    const take = (bytes: Buffer, start: number, end: number, last = false): void => {
      line += 1;
      const text = bytes.toString('utf8');
      if (text.trim() === '') return;
      if (parseRound(text) === undefined) {
        // Only the last line can be cut: a round is written whole, newline
        // and all, after the one before it.
        if (last) {
          cut = { line, bytes: bytes.length };
          return;
        }
        throw new Error(`Cannot replay ${path}: line ${line} is not a round of the loop`);
      }
      starts.push(start);
      ends.push(end);
    };
    try {
      let offset = 0;
      let lineStart = 0;
      let pieces: Buffer[] = [];
      let pieceBytes = 0;
      for await (const chunk of chunksOf(fd)) {
        let from = 0;
        for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, from)) {
          pieces.push(chunk.subarray(from, newline));
          take(Buffer.concat(pieces), lineStart, offset + newline);
          pieces = [];
          pieceBytes = 0;
          from = newline + 1;
          lineStart = offset + from;
        }
        pieces.push(chunk.subarray(from));
        pieceBytes += chunk.length - from;
        if (pieceBytes > LONGEST_LINE) throw new Error(`Cannot replay ${path}: line ${line + 1} is over ${LONGEST_LINE} bytes, not a round of the loop`);
        offset += chunk.length;
      }
      take(Buffer.concat(pieces), lineStart, offset, true);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new RecordingFile(path, fd, starts, ends, cut);
  }

  get total(): number {
    return this.starts.length;
  }

  read(from: number, count: number): Round[] {
    const rounds: Round[] = [];
    for (let at = Math.max(0, from); at < Math.min(this.total, from + count); at++) {
      const bytes = Buffer.alloc(this.ends[at]! - this.starts[at]!);
      readSync(this.fd, bytes, 0, bytes.length, this.starts[at]!);
      const round = parseRound(bytes.toString('utf8'));
      // The file may have changed since it was read through.
      if (round === undefined) throw new Error(`round ${at + 1} of ${this.path} is no longer a round of the loop: was the file changed?`);
      rounds.push(keepActions(round));
    }
    return rounds;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A file's bytes, from its start, a chunk at a time. (Not a read stream:
 * one left early, at a line that is not a round, closes the descriptor it
 * was given, even with autoClose: false.) */
async function* chunksOf(fd: number): AsyncGenerator<Buffer> {
  for (let position = 0; ; ) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    const bytesRead = await new Promise<number>((resolve, reject) =>
      read(fd, chunk, 0, chunk.length, position, (error, bytes) => (error ? reject(error) : resolve(bytes))),
    );
    if (bytesRead === 0) return;
    position += bytesRead;
    yield chunk.subarray(0, bytesRead);
  }
}

/** The round a line records, if it is one (by the fields the page needs). */
function parseRound(text: string): Round | undefined {
  try {
    const round = JSON.parse(text) as Partial<Round> | null;
    const isRound = typeof round?.round === 'number' && Array.isArray(round.actions) && Array.isArray(round.inputs);
    return isRound ? (round as Round) : undefined;
  } catch {
    return undefined;
  }
}
