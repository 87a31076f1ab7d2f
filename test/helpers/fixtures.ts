// The pickles real Python wrote (test/fixtures/make_fixtures.py made them).

import { readFileSync } from 'node:fs';
import type { PickleShape } from '../../src/pickle.js';

export interface PickleFixture {
  name: string;
  text: string;
  shape: PickleShape;
  /** null for the hand-made Python 2 vectors. */
  protocol: number | null;
  pickle: Buffer;
}

interface StoredFixture {
  name: string;
  text: string | { repeat: string; times: number };
  shape: PickleShape;
  protocol: number | null;
  pickle: string;
}

export function loadPickleFixtures(): PickleFixture[] {
  const stored = JSON.parse(readFileSync(new URL('../fixtures/pickles.json', import.meta.url), 'utf8')) as StoredFixture[];
  return stored.map((fixture) => ({
    ...fixture,
    text: typeof fixture.text === 'string' ? fixture.text : fixture.text.repeat.repeat(fixture.text.times),
    pickle: Buffer.from(fixture.pickle, 'hex'),
  }));
}
