// A minimal client of the Chrome DevTools Protocol, over Node's own
// WebSocket: for Node's inspector (test/debugger.test.ts) and for a
// headless Chromium (test/view-browser.test.ts, scripts/screenshot.ts).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** Where a headless Chromium is, if one is installed. */
export const CHROMIUM = ['chromium-headless-shell', 'chromium', 'chromium-browser'].find((name) => spawnSync(name, ['--version']).error === undefined);

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
      // Its own process group: Chromium starts helpers of its own, and
      // close() ends them all.
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
    try {
      process.kill(-this.process.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
    this.process.unref();
    rmSync(this.profile, { recursive: true, force: true });
  }
}
