// Preloaded into a program under test (`node --import`): on SIGUSR2, the wall
// clock the program reads, `Date.now()` and `new Date()`, steps by
// WALL_CLOCK_STEP_MS milliseconds (negative for back), as an NTP step or
// `date --set` would, while the monotonic clock and Node's timers run on.
// It says so on stderr, so that the test knows when the step has happened.

const RealDate = Date;
const step = Number(process.env.WALL_CLOCK_STEP_MS);
let offset = 0;

class SteppedDate extends RealDate {
  constructor(...args: ConstructorParameters<DateConstructor> | []) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...(args as [string | number | Date]));
  }

  static override now(): number {
    return RealDate.now() + offset;
  }
}

globalThis.Date = SteppedDate as DateConstructor;

process.on('SIGUSR2', () => {
  offset += step;
  process.stderr.write(`wall clock stepped by ${step} ms\n`);
});
