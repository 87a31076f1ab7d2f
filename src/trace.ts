// `--trace`: one line per loop round on stderr, to watch the select() loop
// work. A round reads:
//
//   round 7: select(in: server stdin alice@127.0.0.1 bob@127.0.0.1; out: -) -> readable: alice@127.0.0.1 | alice@127.0.0.1: line, broadcast to 1
//
// what select() was given (by name), what came back, and what the round did.

export class RoundTrace {
  private round = 0;
  private given = '';
  private came = '';
  private readonly actions: string[] = [];

  constructor(
    private readonly write: (line: string) => void,
    /** How a source is called in the trace: server, stdin, alice@127.0.0.1... */
    private readonly nameOf: (source: unknown) => string,
  ) {}

  /** Before select(): what it is asked to watch. */
  selecting(inputs: readonly unknown[], outputs: readonly unknown[]): void {
    this.round += 1;
    this.given = `select(in: ${this.names(inputs)}; out: ${this.names(outputs)})`;
  }

  /** After select(): what came back (named now, before the round changes names). */
  selected(readable: readonly unknown[], writable: readonly unknown[]): void {
    this.came = `readable: ${this.names(readable)}`;
    if (writable.length > 0) this.came += `, writable: ${this.names(writable)}`;
  }

  /** What the round did, in a few words. */
  did(action: string): void {
    this.actions.push(action);
  }

  /** After the round: prints it. */
  done(): void {
    const did = this.actions.length > 0 ? this.actions.join('; ') : '(interrupted or timed out)';
    this.write(`round ${this.round}: ${this.given} -> ${this.came} | ${did}`);
    this.actions.length = 0;
  }

  private names(sources: readonly unknown[]): string {
    if (sources.length === 0) return '-';
    // A room of thousands would make every line a page long.
    const shown = sources.slice(0, 8).map(this.nameOf);
    if (sources.length > 8) shown.push(`and ${sources.length - 8} more`);
    return shown.join(' ');
  }
}
