// A minimal client of the Chrome DevTools Protocol, over Node's own
// WebSocket: for Node's inspector (test/debugger.test.ts) and for a
// headless Chromium (test/view-browser*.test.ts, scripts/screenshot.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { findBrowser } from './browser.js';
import { ChildProgram, ROOT } from './chat.js';
import { type Mapping, readInlineSourceMap } from './source-map.js';
import { endProcessTree } from './system.js';

/** A message of the inspector protocol: JSON, untyped. */
// biome-ignore lint/suspicious/noExplicitAny: the protocol's messages are JSON whose shape each test knows
export type Json = any;

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
export class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();
  private readonly listeners: ((method: string, params: Json) => void)[] = [];

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data));
      if (message.id !== undefined) this.pending.get(message.id)?.(message.result ?? message.error);
      else for (const listener of this.listeners) listener(message.method, message.params);
    });
  }

  static async open(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve);
      socket.addEventListener('error', reject);
    });
    return new Inspector(socket);
  }

  send(method: string, params: object = {}): Promise<Json> {
    const id = this.nextId++;
    this.socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve) => this.pending.set(id, resolve));
  }

  on(listener: (method: string, params: Json) => void): void {
    this.listeners.push(listener);
  }

  next(method: string): Promise<Json> {
    return new Promise((resolve) => this.on((m, params) => m === method && resolve(params)));
  }

  close(): void {
    this.socket.close();
  }
}

/** Where a program paused: its name, and the TypeScript file and line (from 1). */
export interface Pause {
  program: string;
  file: string;
  line: number;
  callFrameId: string;
}

/** The pauses of several programs, in the order they came. */
export class Pauses {
  private readonly came: Pause[] = [];
  private readonly waiters: ((pause: Pause) => void)[] = [];

  add(pause: Pause): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(pause);
    else this.came.push(pause);
  }

  next(): Promise<Pause> {
    const pause = this.came.shift();
    return pause ? Promise.resolve(pause) : new Promise((resolve) => this.waiters.push(resolve));
  }

  get waiting(): readonly Pause[] {
    return this.came;
  }
}

/** A command line of the project running under Node's inspector (on a free
 * port), with breakpoints set by TypeScript line, as an editor sets them:
 * tsx's inline source maps say where each line went in the JavaScript. */
export class DebuggedProgram {
  private readonly scripts = new Map<string, { file: string; mappings: Mapping[] }>();

  private constructor(
    readonly name: string,
    readonly program: ChildProgram,
    readonly inspector: Inspector,
  ) {}

  /** Starts `script` with `args` under the inspector; every pause it makes goes to `pauses`. */
  static async start(name: string, script: string, args: string[], pauses: Pauses): Promise<DebuggedProgram> {
    const program = ChildProgram.start(script, args, ['--inspect=127.0.0.1:0']);
    const url = /ws:\/\/\S+/.exec(await program.errorLine(/Debugger listening on ws:/))![0];
    const debugged = new DebuggedProgram(name, program, await Inspector.open(url));
    // The project's own scripts, by their URL: pathToFileURL writes it as
    // Node's loader does, file:///C:/... on Windows, a space as %20.
    const root = pathToFileURL(ROOT).href;
    debugged.inspector.on((method, params) => {
      if (method === 'Debugger.scriptParsed' && params.url.startsWith(root) && params.sourceMapURL?.startsWith('data:')) {
        // From the project's root, with / whatever the system: src/room/server.ts.
        const file = decodeURIComponent(params.url.slice(root.length));
        debugged.scripts.set(params.scriptId, {
          file,
          mappings: readInlineSourceMap(params.sourceMapURL).filter((m) => basename(m.source) === basename(file)),
        });
      } else if (method === 'Debugger.paused') {
        const top = params.callFrames[0];
        pauses.add({ program: name, ...debugged.whereIs(top.location), callFrameId: top.callFrameId });
      }
    });
    // Enabling the debugger makes it announce every script already loaded.
    await debugged.inspector.send('Debugger.enable');
    return debugged;
  }

  /** Sets a breakpoint on a TypeScript line (from 1) of a file (from the
   * project's root). False if the program has not loaded that file (the
   * server has no src/room/client.ts): an editor leaves it unset there too. */
  async breakAt(file: string, line: number): Promise<boolean> {
    const entry = [...this.scripts].find(([, script]) => script.file === file);
    if (!entry) return false;
    // tsx squeezes the code onto few lines, so the column matters as much.
    // As an editor does, the breakpoint goes on the first place V8 can stop
    // at in the JavaScript that came from the line.
    const sorted = [...entry[1].mappings].sort((a, b) => a.generatedLine - b.generatedLine || a.generatedColumn - b.generatedColumn);
    const first = sorted.findIndex((m) => m.originalLine === line - 1);
    if (first < 0) throw new Error(`${file}:${line} has no code of its own`);
    const after = sorted.slice(first).find((m) => m.originalLine !== line - 1);
    const at = (m: Mapping) => ({ scriptId: entry[0], lineNumber: m.generatedLine, columnNumber: m.generatedColumn });
    const { locations } = await this.inspector.send('Debugger.getPossibleBreakpoints', { start: at(sorted[first]!), ...(after && { end: at(after) }) });
    if (!locations?.length) throw new Error(`${file}:${line}: V8 can stop nowhere on it`);
    await this.inspector.send('Debugger.setBreakpoint', { location: locations[0] });
    return true;
  }

  /** The TypeScript file and line of a place in the generated JavaScript. */
  whereIs(location: { scriptId: string; lineNumber: number; columnNumber: number }): { file: string; line: number } {
    const script = this.scripts.get(location.scriptId);
    if (!script) return { file: `(script ${location.scriptId})`, line: 0 };
    const back = script.mappings.filter((m) => m.generatedLine === location.lineNumber && m.generatedColumn <= location.columnNumber).at(-1);
    return { file: script.file, line: (back?.originalLine ?? -1) + 1 };
  }

  /** Whether `expression`, evaluated where the program is paused, is true. */
  async holds(callFrameId: string, expression: string): Promise<boolean> {
    const { result, exceptionDetails } = await this.inspector.send('Debugger.evaluateOnCallFrame', { callFrameId, expression, returnByValue: true });
    if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value === true;
  }

  /** The value of `expression` where the program is paused, as JSON, to say what it was. */
  async show(callFrameId: string, expression: string): Promise<string> {
    const { result } = await this.inspector.send('Debugger.evaluateOnCallFrame', {
      callFrameId,
      expression: `JSON.stringify(${expression})`,
      returnByValue: true,
    });
    return String(result?.value);
  }

  resume(): Promise<Json> {
    return this.inspector.send('Debugger.resume');
  }

  stepOver(): Promise<Json> {
    return this.inspector.send('Debugger.stepOver');
  }

  async close(): Promise<void> {
    this.inspector.close();
    this.program.child.kill('SIGKILL');
    await this.program.exited;
  }
}

/** Where a Chromium, Chrome or Edge is, if one is installed (test/helpers/browser.ts). */
export const CHROMIUM = findBrowser();

/** A headless Chromium and one page in it, driven over the protocol. */
export class Browser {
  private constructor(
    private readonly process: ChildProcess,
    private readonly profile: string,
    readonly page: Inspector,
  ) {}

  static async open(): Promise<Browser> {
    if (CHROMIUM === undefined) throw new Error('no Chromium is installed');
    const profile = mkdtempSync(join(tmpdir(), 'selectchat-chromium-'));
    const child = spawn(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-background-networking',
        '--remote-debugging-port=0',
        `--user-data-dir=${profile}`,
        '--window-size=1400,900',
        'about:blank',
      ],
      // Its own process group (a tree, on Windows): Chromium starts helpers
      // of its own, and close() ends them all.
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    // Chromium says on stderr where its DevTools endpoint listens.
    const port = await new Promise<number>((resolve, reject) => {
      let said = '';
      child.stderr!.setEncoding('utf8').on('data', (text: string) => {
        said += text;
        const match = /DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(said);
        if (match === null) return;
        // Nothing more is needed from it, and its helpers hold the pipe open.
        child.stderr!.destroy();
        resolve(Number(match[1]));
      });
      child.once('exit', () => reject(new Error(`Chromium exited: ${said}`)));
    });
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
    const page = await Inspector.open(targets.find((target) => target.type === 'page')!.webSocketDebuggerUrl);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    return new Browser(child, profile, page);
  }

  /** Opens a URL and waits for the page to load. */
  async goto(url: string): Promise<void> {
    const loaded = this.page.next('Page.loadEventFired');
    await this.page.send('Page.navigate', { url });
    await loaded;
  }

  /** The value of a JavaScript expression in the page. */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.page.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value as T;
  }

  /** Waits until the expression is true in the page. */
  async until(what: string, expression: string, timeoutMs = 10_000): Promise<void> {
    const giveUpAt = Date.now() + timeoutMs;
    while (!(await this.evaluate<boolean>(expression))) {
      if (Date.now() > giveUpAt) throw new Error(`the page never showed ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  close(): void {
    this.page.close();
    endProcessTree(this.process);
    this.process.unref();
    rmSync(this.profile, { recursive: true, force: true });
  }
}
