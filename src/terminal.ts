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

import { clearScreenDown, cursorTo, moveCursor, type Interface as ReadlineInterface } from 'node:readline';

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

/** A real terminal, with readline editing the line being typed. */
export class TerminalScreen implements Screen {
  private promptShown = false;

  constructor(
    private readonly readline: ReadlineInterface,
    private readonly output: NodeJS.WritableStream,
    private readonly errors?: NodeJS.WritableStream,
  ) {
    // Node 20's keypress decoder sets `isCompletionEnabled` to false for every
    // character of a chunk but the last, and its insert then takes a short cut
    // meant for typing at the end of the line: `line += c`, cursor or not.
    // Pasting "big " into "hello |world" gave "hello wor ldbig". Pinned to
    // true (this client has no completion), every character is inserted at
    // the cursor.
    Object.defineProperty(readline, 'isCompletionEnabled', { get: () => true, set: () => {}, configurable: true });
  }

  showPrompt(prompt: string): void {
    this.readline.setPrompt(prompt);
    // prompt(true) draws the prompt and the line typed so far, and puts the
    // cursor back where it was in that line.
    this.readline.prompt(true);
    this.promptShown = true;
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
    // A long line wraps: go up to the row the prompt starts on.
    moveCursor(this.output, 0, -this.readline.getCursorPos().rows);
    cursorTo(this.output, 0);
    clearScreenDown(this.output);
    this.promptShown = false;
    // What is printed next goes here, and the prompt below it: readline's
    // next redraw must not go up from where it last left the cursor.
    (this.readline as ReadlineInterface & { prevRows?: number }).prevRows = 0;
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
