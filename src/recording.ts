// A recording of the loop's rounds: `--record FILE` writes one round per
// line of JSON, and `npm run replay -- FILE` reads them back. Both ends are
// here.
//
// A recording holds everyone's chat, and a class is recorded again and
// again: the file is created readable by its owner only, and never written
// over. A name that exists already (a file, a symbolic link, anything) is
// refused, so that last week's recording is never lost and a link cannot
// send the recording into someone else's file; the teacher picks a new name.

import { constants, openSync } from 'node:fs';

/** Opens a new file for a recording, readable and writable by its owner
 * only, and returns its descriptor. Throws an Error whose message is one
 * line naming the file when the name exists already (a symbolic link is
 * not followed) or the file cannot be created. */
export function createRecording(path: string): number {
  try {
    return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
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
