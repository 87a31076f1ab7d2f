// The project's own files, read as text the way the tests compare them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './chat.js';

/** A file of the repository (a path from its root), its lines ended by
 * "\n" alone. .gitattributes keeps every checkout that way; a copy whose
 * lines end in "\r\n" all the same (an editor's, or an archive unpacked on
 * Windows) reads the same, rather than failing every test that reads it. */
export function readRepositoryFile(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8').replaceAll('\r\n', '\n');
}
