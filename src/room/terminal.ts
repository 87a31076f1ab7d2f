// Where the client shows the prompt and incoming messages.
//
// The original writes its prompt, then blocks in select(); a message that
// arrives while you type is printed after your half-typed line, and what you
// typed is still in the terminal's buffer but no longer on screen. In a
// terminal this port does what antirez's smallchat client does: the prompt
// and the half-typed line are erased, the message is printed, and the prompt
// and the line are drawn again below it, cursor where it was. Node's readline
// holds the line being edited and knows where the cursor is, so it can redraw
// them.
//
// Two things of readline's are set right here. Its redraw starts by going up
// as many rows as the cursor stood below the prompt's first row when it last
// drew (`prevRows`): after a message has been printed where the prompt was,
// that would climb over the message and erase it, so it is told the cursor
// now stands on the prompt's first row. And on Node 20 a chunk of several
// characters (a paste, an input method's word) is appended at the end of the
// line wherever the cursor is, except its last character (Node 22 fixed
// that): see TerminalScreen's constructor.
//
// The terminal can change under the line too. Resized, a terminal that
// reflows wrapped lines (Terminal.app, iTerm2, Windows Terminal, VS Code,
// GNOME Terminal, tmux) moves the line onto more rows or fewer, and readline
// redraws it: from the row it last left the cursor on, which after the
// reflow is another row. That left a stale first row behind when narrowed
// and erased a message above when widened, so readline is told where the
// prompt's first row is now. (A terminal that cuts rows instead of
// reflowing them, as xterm does, still gets a redraw; rows of the old one
// may stay above it.) Node learns of a resize late, or, while Ctrl-Z has
// the client stopped, never: the size is asked again before each drawing
// (learnSize()). And Ctrl-Z, which the terminal does not turn into
// SIGTSTP while readline has it in raw mode, is done here as the terminal
// would do it; see suspend().

import { clearScreenDown, cursorTo, moveCursor, type Interface as ReadlineInterface } from 'node:readline';
import type { WriteStream } from 'node:tty';

export interface Screen {
  /** Shows the prompt, if this screen has one, keeping any half-typed line. */
  showPrompt(prompt: string): void;
  /** Prints an incoming message (which starts with a newline, as the server
   * sends it) so that it does not mix with what is being typed. */
  printMessage(message: string): void;
  /** Prints a line of the client's own, such as "Client shutting down.". */
  printLine(line: string): void;
  /** Prints a line on the error output (why something failed), if there is one. */
  printError(line: string): void;
  /** The user pressed Enter: readline has moved to a fresh line. */
  lineEntered(): void;
}

/** What of readline's this file sets: the rows its next redraw goes up. */
type Redrawn = ReadlineInterface & { prevRows?: number };

/** A real terminal, with readline editing the line being typed. */
export class TerminalScreen implements Screen {
  private promptShown = false;
  /** showPrompt() has set readline's prompt: a redraw of readline's own
   * draws it. */
  private promptSet = false;
  /** Ctrl-D closed readline: nothing more is typed, so no prompt is shown
   * (the one shown is taken off, as the input it offered has ended). */
  private inputClosed = false;
  /** The width readline last drew the line at: the output's, before the
   * latest resize. */
  private drawnWidth: number;

  constructor(
    private readonly readline: ReadlineInterface,
    private readonly input: NodeJS.ReadableStream & { setRawMode?: (raw: boolean) => unknown },
    private readonly output: NodeJS.WritableStream,
    private readonly errors?: NodeJS.WritableStream,
  ) {
    this.drawnWidth = this.columns();
    // Before readline's own 'resize' listener, which redraws the line.
    output.prependListener('resize', () => this.resized());
    // Before readline's own 'keypress' listener, which may redraw the line.
    input.prependListener('keypress', () => this.learnSize());
    readline.on('close', () => {
      this.inputClosed = true;
      this.erasePrompt();
    });
    // With a listener, readline leaves Ctrl-Z to it (its own would stop
    // this process alone, and leave the keyboard deaf after `fg`).
    readline.on('SIGTSTP', () => this.suspend());
    // Node 20's keypress decoder sets `isCompletionEnabled` to false for every
    // character of a chunk but the last, and its insert then takes a short cut
    // meant for typing at the end of the line: `line += c`, cursor or not.
    // Pasting "big " into "hello |world" gave "hello wor ldbig". Pinned to
    // true (this client has no completion), every character is inserted at
    // the cursor.
    Object.defineProperty(readline, 'isCompletionEnabled', { get: () => true, set: () => {}, configurable: true });
  }

  showPrompt(prompt: string): void {
    // After Ctrl-D the client waits for the server to take its last lines.
    // A prompt then would be a lie, and Node 20's prompt() resumes a closed
    // readline's input: reading the terminal again, the process would never
    // exit.
    if (this.inputClosed) return;
    this.learnSize();
    this.readline.setPrompt(prompt);
    // prompt(true) draws the prompt and the line typed so far, and puts the
    // cursor back where it was in that line.
    this.readline.prompt(true);
    this.promptShown = true;
    this.promptSet = true;
  }

  printMessage(message: string): void {
    this.erasePrompt();
    // The leading newline is there to step off the prompt line, which has
    // just been erased instead.
    this.output.write(`${message.replace(/^\n/, '')}\n`);
  }

  printLine(line: string): void {
    this.erasePrompt();
    this.output.write(`${line}\n`);
  }

  printError(line: string): void {
    this.erasePrompt();
    (this.errors ?? this.output).write(`${line}\n`);
  }

  lineEntered(): void {
    this.promptShown = false;
  }

  private erasePrompt(): void {
    if (!this.promptShown) return;
    this.learnSize();
    // A long line wraps: go up to the row the prompt starts on.
    moveCursor(this.output, 0, -this.readline.getCursorPos().rows);
    cursorTo(this.output, 0);
    clearScreenDown(this.output);
    this.promptShown = false;
    // What is printed next goes here, and the prompt below it: readline's
    // next redraw must not go up from where it last left the cursor.
    (this.readline as Redrawn).prevRows = 0;
  }

  /** The terminal has new columns, and has reflowed the rows already shown:
   * the cursor stands where the same character of the line now is, as many
   * rows below the prompt's first as the new width puts it. readline's
   * redraw, which comes next, goes up that many rows.
   *
   * Except where nothing stands under the cursor. readline ends a line
   * that fills its last row exactly with a blank, on which the cursor
   * stands, at the start of the next row. A line that ended mid-row when
   * drawn has no blank; if the new width makes it fill its last row
   * exactly, the cursor after it stays at the end of that row (the next
   * character would wrap), one row above where readline counts it. */
  private resized(): void {
    const drawnWidth = this.drawnWidth;
    this.drawnWidth = this.columns();
    if (!this.promptShown) {
      (this.readline as Redrawn).prevRows = 0;
      if (this.promptSet) this.promptShown = true;
      return;
    }
    const now = this.readline.getCursorPos();
    const atTheEnd = this.readline.cursor === this.readline.line.length;
    const waitsAtRowEnd = atTheEnd && now.cols === 0 && now.rows > 0 && this.cursorAt(drawnWidth).cols !== 0;
    (this.readline as Redrawn).prevRows = waitsAtRowEnd ? now.rows - 1 : now.rows;
  }

  /** Where readline puts the cursor in a terminal `columns` wide, by its own
   * measure (wide characters, the blank column where one would not fit at a
   * row's end). readline reads the width from the output's `columns`, which
   * is set for this one measure and put back. */
  private cursorAt(columns: number): { rows: number; cols: number } {
    const output = this.output as Partial<WriteStream>;
    const now = output.columns;
    output.columns = columns;
    try {
      return this.readline.getCursorPos();
    } finally {
      output.columns = now;
    }
  }

  private columns(): number {
    return (this.output as Partial<WriteStream>).columns ?? Number.POSITIVE_INFINITY;
  }

  /** Asks the terminal for its size now, before a drawing. If it has
   * changed, 'resize' comes at once (resized(), then readline's redraw at
   * the new width), and the drawing is done at the new width.
   *
   * A C program would ask with ioctl(TIOCGWINSZ) here. Node asks only in
   * its own SIGWINCH listener, and `columns`, `rows` and `getWindowSize()`
   * answer from what that listener last stored. It may not have run yet:
   * libuv runs signal callbacks after the I/O callbacks that came with
   * them, and readline draws a key in stdin's callback, so a key pressed
   * as the terminal was resized was drawn for the old width, over a screen
   * already reflowed for the new one. And a job stopped by Ctrl-Z hears no
   * SIGWINCH at all: the terminal sends it to the foreground job, the
   * shell. Node has no public way to ask; `_refreshSize()` is the method
   * its SIGWINCH listener calls (in Node 20 to 26, on every system). It is
   * private: where it is missing, only SIGWINCH tells, as before. */
  private learnSize(): void {
    const output = this.output as { _refreshSize?: () => void };
    if (typeof output._refreshSize === 'function') output._refreshSize();
  }

  /** Ctrl-Z. In raw mode the terminal sends no SIGTSTP; readline passes the
   * key on. What the terminal would do, this does: the prompt and the line
   * are taken off the screen for the shell to write there, the terminal is
   * given back its ordinary mode, and SIGTSTP goes to the whole process
   * group, the job the shell stops (under `npx tsx` that is npx, tsx and
   * this process: stopping this process alone would leave the shell waiting
   * for npx, which still runs). On `fg` the shell sends SIGCONT; then raw
   * mode comes back and the prompt and the half-typed line are drawn again.
   * readline's own Ctrl-Z, used when nobody listens, pauses the input on
   * SIGCONT and resumes it at the next prompt(): the next prompt comes after
   * the loop's next round, which nothing starts in a quiet room. Never on
   * Windows, where readline takes no Ctrl-Z. */
  private suspend(): void {
    this.erasePrompt();
    process.once('SIGCONT', () => {
      this.input.setRawMode?.(true);
      // Resized while stopped, the terminal told the shell, not this job.
      this.learnSize();
      // Unless a round has drawn it again already, after a message that
      // came in while stopped.
      if (!this.promptShown && this.promptSet && !this.inputClosed) {
        this.readline.prompt(true);
        this.promptShown = true;
      }
    });
    this.input.setRawMode?.(false);
    process.kill(0, 'SIGTSTP');
  }
}

/** Input from a pipe or a file, output anywhere: no prompt, no editing;
 * messages are written as the original writes them, `data + '\n'`. */
export class PlainScreen implements Screen {
  constructor(
    private readonly output: NodeJS.WritableStream,
    private readonly errors?: NodeJS.WritableStream,
  ) {}

  showPrompt(): void {}

  printMessage(message: string): void {
    this.output.write(`${message}\n`);
  }

  printLine(line: string): void {
    this.output.write(`${line}\n`);
  }

  printError(line: string): void {
    (this.errors ?? this.output).write(`${line}\n`);
  }

  lineEntered(): void {}
}
