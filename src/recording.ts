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

import { closeSync, constants, createReadStream, openSync, readSync } from 'node:fs';
import { keepActions, type Round } from './trace.js';

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
    throw new Error(`Cannot record to ${path}: ${whyNot(error as NodeJS.ErrnoException)}`);
  }
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

/** The rounds of a run, read a window at a time. */
export interface Recording {
  /** Rounds in it. */
  readonly total: number;
  /** At most `count` rounds from position `from` (0 is the first). */
  read(from: number, count: number): Round[];
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
  ) {}

  /** Reads the file through once, checking that every line is a round.
   * Throws an Error naming the file and the line when one is not. */
  static async open(path: string): Promise<RecordingFile> {
    const fd = openSync(path, constants.O_RDONLY);
    const starts: number[] = [];
    const ends: number[] = [];
    let line = 0;
    const take = (bytes: Buffer, start: number, end: number): void => {
      line += 1;
      const text = bytes.toString('utf8');
      if (text.trim() === '') return;
      if (parseRound(text) === undefined) throw new Error(`Cannot replay ${path}: line ${line} is not a round of the loop`);
      starts.push(start);
      ends.push(end);
    };
    try {
      let offset = 0;
      let lineStart = 0;
      let pieces: Buffer[] = [];
      let pieceBytes = 0;
      for await (const chunk of createReadStream('', { fd, autoClose: false }) as AsyncIterable<Buffer>) {
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
      take(Buffer.concat(pieces), lineStart, offset);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new RecordingFile(path, fd, starts, ends);
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
