// `npm run demo`: a server and three scripted clients hold a short
// conversation, and everything each program prints is shown, prefixed with
// who printed it. A first look at the chat, for a terminal or a projector.
//
//   npm run demo                 at a readable pace
//   npm run demo -- --pace 0     as fast as it goes

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { pace: { type: 'string' }, view: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  process.stdout.write(
    'Usage: npm run demo -- [--pace MS] [--view]\n\nStarts the server and three clients (alice, bob, carol) that chat, join and leave;\nshows what each one prints. --pace is the pause between steps (default 700 ms).\n--view (npm run view) also serves the loop view and prints its address; the\nconversation goes round again until Ctrl-C, slowly enough to watch.\n',
  );
  process.exit(0);
}
const pace = Number(values.pace ?? (values.view ? 2500 : 700));
const useColor = process.stdout.isTTY;
const COLORS: Record<string, number> = { server: 90, alice: 35, bob: 36, carol: 33 };

/** One of the demo's programs, its output shown line by line. */
class Program {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly seen: string[] = [];
  private readonly waiting: { pattern: RegExp; resolve: (line: string) => void }[] = [];

  constructor(
    readonly who: string,
    script: string,
    args: string[],
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: 'pipe' });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => this.show(line));
    }
  }

  /** Resolves with the first line the program printed matching the pattern. */
  printed(pattern: RegExp): Promise<string> {
    const line = this.seen.find((seen) => pattern.test(seen));
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => this.waiting.push({ pattern, resolve }));
  }

  say(text: string): void {
    this.child.stdin.write(`${text}\n`);
  }

  private show(line: string): void {
    this.seen.push(line);
    for (const waiter of [...this.waiting]) {
      if (waiter.pattern.test(line)) {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
    // The server's messages start with a newline; an empty line adds nothing here.
    if (line === '') return;
    const label = this.who.padEnd(6);
    process.stdout.write(useColor ? `\x1b[${COLORS[this.who]}m${label}|\x1b[0m ${line}\n` : `${label}| ${line}\n`);
  }
}

const pause = () => new Promise((resolve) => setTimeout(resolve, pace));
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function demo(): Promise<void> {
  const server = new Program('server', 'scripts/server.ts', ['--port', '0', ...(values.view ? ['--view', '0'] : [])]);
  const port = Number(/\d+/.exec(await server.printed(/^Server listening to port: \d+/))![0]);
  if (values.view) await server.printed(/^Loop view: /);
  do await conversation(port);
  while (values.view);
  // A line on its console stops the server, as one typed would. Not a
  // signal: on Windows every signal ends a process at once, unclosed.
  server.say('');
  const [code, signal] = await once(server.child, 'exit');
  if (code !== 0) throw new Error(`the server did not stop cleanly: it ended with ${signal ?? `status ${code}`}`);
}

// In view mode the conversation goes round until Ctrl-C, which the
// terminal sends to the server and the clients too.
if (values.view) process.on('SIGINT', () => process.exit(0));

async function conversation(port: number): Promise<void> {
  const people: Record<string, Program> = {};
  const join = async (name: string) => {
    await pause();
    people[name] = new Program(name, 'scripts/client.ts', ['--name', name, '--port', String(port)]);
    await Promise.all(
      Object.entries(people).map(([other, program]) => (other === name ? program.printed(/^Now connected/) : program.printed(new RegExp(`from ${name}@`)))),
    );
  };
  /** One line said, and seen by everyone else before the next step. */
  const say = async (name: string, text: string) => {
    await pause();
    people[name]!.say(text);
    const seen = new RegExp(`^#\\[${name}@[^\\]]+\\]>>${escapeRegExp(text)}$`);
    await Promise.all(
      Object.entries(people)
        .filter(([other]) => other !== name)
        .map(([, program]) => program.printed(seen)),
    );
  };
  const leave = async (name: string) => {
    await pause();
    const leaving = people[name]!;
    delete people[name];
    leaving.child.stdin.end();
    await once(leaving.child, 'exit');
    await Promise.all(Object.values(people).map((program) => program.printed(new RegExp(`hung up: Client from ${name}@`))));
  };

  await join('alice');
  await join('bob');
  await say('alice', 'Hello bob! One select() loop serves us both.');
  await say('bob', 'And it sleeps when nobody talks.');
  await join('carol');
  await say('carol', 'Hi all. Can I send a pickle of os.system?');
  await say('alice', 'Only strings, carol: everything else is refused by name.');
  await leave('carol');
  await say('bob', 'Bye carol!');
  await pause();
  for (const name of Object.keys(people)) await leave(name);
  await pause();
}

demo().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
