// A small seeded random generator (mulberry32), so that property and fuzz
// tests do the same thing on every run and a failure can be replayed.

export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, limit). */
  below(limit: number): number {
    return Math.floor(this.next() * limit);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = this.below(256);
    return out;
  }

  /** A string of code points drawn from ASCII, Latin-1, CJK and emoji,
   * with the characters protocol 0 has to escape. */
  text(maxLength: number): string {
    const alphabet = ['a', 'Z', ' ', '\\', '\n', '\r', '\0', '\x1a', "'", '"', 'é', 'ÿ', '你', '€', '😀', '\u{10FFFF}'];
    let out = '';
    const length = this.below(maxLength + 1);
    for (let i = 0; i < length; i++) out += this.pick(alphabet);
    return out;
  }
}
