// The pickles real Python wrote: Python 3 (test/fixtures/make_fixtures.py
// made pickles.json) and Python 2.7 (make_fixtures_python2.py made
// pickles-python2.json).

import { readFileSync } from 'node:fs';
import type { PickleShape, StringType } from '../../src/wire/pickle.js';

export interface PickleFixture {
  name: string;
  /** What the port shows for it. */
  text: string;
  shape: PickleShape;
  /** null for the hand-made Python 2 vectors. */
  protocol: number | null;
  stringType: StringType;
  /** `encodePickle(text, shape, stringType)` writes exactly `pickle`. */
  encodes: boolean;
  pickle: Buffer;
}

interface StoredFixture extends Omit<PickleFixture, 'text' | 'pickle'> {
  text: string | { repeat: string; times: number };
  pickle: string;
}

function load(file: string): PickleFixture[] {
  const stored = JSON.parse(readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8')) as StoredFixture[];
  return stored.map((fixture) => ({
    ...fixture,
    text: typeof fixture.text === 'string' ? fixture.text : fixture.text.repeat.repeat(fixture.text.times),
    pickle: Buffer.from(fixture.pickle, 'hex'),
  }));
}

/** Every fixture, Python 3's and Python 2's. */
export function loadPickleFixtures(): PickleFixture[] {
  return [...load('pickles.json'), ...load('pickles-python2.json')];
}
