// docs/DEBUGGING.md walks one chat line from alice's keyboard to bob's
// screen, breakpoint by breakpoint. This runs that walk through the
// inspector protocol, reading it from the doc: a server, alice and bob
// under the inspector, every breakpoint the walk names set in all three (as
// an editor does), `hello` typed in alice's terminal. Every stop must come
// in the order the doc gives, in the program it names, on its line, with
// the values it says. The doc stays the one place where the walk is written.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChildProgram, ROOT, within } from './helpers/chat.js';
import { DebuggedProgram, Pauses } from './helpers/inspector.js';

const skip = typeof WebSocket === 'undefined' && 'this Node has no WebSocket client (Node 20 needs --experimental-websocket, which npm test passes)';

const DOC = readFileSync(join(ROOT, 'docs/DEBUGGING.md'), 'utf8');

/** The programs of the walk, by the names the doc gives them. */
const PROGRAMS: Record<string, string> = { alice: 'alice', 'the server': 'server', bob: 'bob' };

interface Stop {
  /** The step of the walk, to say which one failed. */
  step: string;
  program: string;
  file: string;
  line: number;
  /** `expression` is `value`, as the doc says: checked at the stop, or
   * after stepping over the line where the doc says "step over it". */
  values: { expression: string; value: string; afterStepOver: boolean }[];
}

/** The stops of the walk, in order, from its numbered list. */
function walk(): Stop[] {
  const section = /## Following one line[^\n]*\n([\s\S]*?)\n## /.exec(DOC)?.[1];
  assert.ok(section, 'docs/DEBUGGING.md has the walk');
  const steps = [...section.matchAll(/^(\d+)\. ([\s\S]*?)(?=^\d+\. |^\S|$(?![\s\S]))/gm)];
  assert.ok(steps.length >= 9, `the walk has ${steps.length} steps`);
  return steps.flatMap(([, number, text]) => {
    const named = /^In (alice|the server|bob)\b/.exec(text!)?.[1];
    assert.ok(named, `step ${number} says in which program it stops: ${text}`);
    const breakpoints = [...text!.matchAll(/\*\*((?:src|scripts)\/[\w/.-]+):(\d+)\*\* — /g)];
    assert.ok(breakpoints.length > 0, `step ${number} names a breakpoint`);
    return breakpoints.map((breakpoint, i) => {
      // What the text says from this breakpoint to the next.
      const from = breakpoint.index!;
      const said = text!.slice(from, breakpoints[i + 1]?.index ?? text!.length);
      const stepOverAt = said.search(/step\s+over\s+it/i);
      return {
        step: `step ${number}${breakpoints.length > 1 ? `, breakpoint ${i + 1}` : ''}`,
        program: PROGRAMS[named]!,
        file: breakpoint[1]!,
        line: Number(breakpoint[2]),
        values: [...said.matchAll(/`([^`]+)` (?:is|being) `([^`]+)`/g)].map((value) => ({
          expression: value[1]!,
          value: value[2]!,
          afterStepOver: stepOverAt >= 0 && value.index! > stepOverAt,
        })),
      };
    });
  });
}

test('the walk in docs/DEBUGGING.md stops where it says, in order, with the values it says', { skip, timeout: 120_000 }, async () => {
  const stops = walk();
  const pauses = new Pauses();
  const programs: DebuggedProgram[] = [];
  try {
    const server = await DebuggedProgram.start('server', 'scripts/server.ts', ['--port', '0'], pauses);
    programs.push(server);
    const port = /\d+/.exec(await server.program.line(/^Server listening to port: \d+/))![0];
    const alice = await DebuggedProgram.start('alice', 'scripts/client.ts', ['--name', 'alice', '--port', port], pauses);
    programs.push(alice);
    await alice.program.line(/^Now connected/);
    const bob = await DebuggedProgram.start('bob', 'scripts/client.ts', ['--name', 'bob', '--port', port], pauses);
    programs.push(bob);
    await alice.program.line(/Connected: New client \(2\) from bob@127\.0\.0\.1/);

    // Every breakpoint of the walk, in every program.
    const breakpoints = new Set(stops.map((stop) => `${stop.file}:${stop.line}`));
    for (const breakpoint of breakpoints) {
      const [file, line] = breakpoint.split(':');
      let set = 0;
      for (const program of programs) if (await program.breakAt(file!, Number(line))) set += 1;
      assert.ok(set > 0, `${breakpoint} is in a file the programs load`);
    }
    const byName = new Map(programs.map((program) => [program.name, program]));

    alice.program.child.stdin.write('hello\n');
    for (const stop of stops) {
      const pause = await within(30_000, `${stop.step}: ${stop.program} at ${stop.file}:${stop.line}`, pauses.next());
      assert.deepEqual(
        { program: pause.program, at: `${pause.file}:${pause.line}` },
        { program: stop.program, at: `${stop.file}:${stop.line}` },
        `${stop.step} of the walk: the next stop`,
      );
      const program = byName.get(pause.program)!;
      let callFrameId = pause.callFrameId;
      for (const { expression, value, afterStepOver } of stop.values) {
        if (afterStepOver && callFrameId === pause.callFrameId) {
          // As an editor steps over a line: until the pause is on another.
          let stepped = pause;
          while (stepped.file === pause.file && stepped.line === pause.line) {
            await program.stepOver();
            stepped = await pauses.next();
          }
          callFrameId = stepped.callFrameId;
        }
        assert.ok(
          await program.holds(callFrameId, `(${expression}) === (${value})`),
          `${stop.step}: \`${expression}\` is \`${value}\`, the doc says; it is ${await program.show(callFrameId, expression)}`,
        );
      }
      await program.resume();
    }
    // The walk ends on bob's screen, with no stop the doc leaves out.
    await bob.program.line(/\[alice@127\.0\.0\.1\]>>hello/);
    assert.deepEqual(pauses.waiting, [], 'no stop after the last one the walk names');
  } finally {
    for (const program of programs) await program.close();
  }
});

/** The `node inspect` part of the doc, up to the next way of watching. */
const NODE_INSPECT = /\*\*`node inspect`\.\*\*([\s\S]*?)\*\*Just watching\.\*\*/.exec(DOC)?.[1] ?? '';

/** A transcript's line of output as a pattern: `...` stands for anything
 * (a column, a port), and 8800, the port the doc starts the server on, for
 * the port the server took. node inspect may print it after its prompt,
 * once or more, and a backspace that takes the prompt back. */
function printed(expected: string, port: string): RegExp {
  const parts = expected.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replaceAll('8800', port));
  return new RegExp(`^(?:debug> |\\x08)*${parts.join('.*')}$`);
}

test('node inspect does what docs/DEBUGGING.md says, command by command', { timeout: 120_000 }, async () => {
  const first = /`(Break on start in [^`]+)`/.exec(NODE_INSPECT)?.[1];
  assert.ok(first, 'the doc says what node inspect shows first');
  const transcripts = [...NODE_INSPECT.matchAll(/```text\n([\s\S]*?)```/g)].map((match) => match[1]!.trimEnd().split('\n'));
  assert.equal(transcripts.length, 3, 'the doc types into node inspect at three moments: at the start, once alice connects, once she says hello');
  const aliceCommand = /`npx tsx scripts\/client\.ts ([^`]+)`/.exec(NODE_INSPECT)?.[1];
  assert.ok(aliceCommand, 'the doc says how to start alice');
  assert.match(NODE_INSPECT, /Type `hello` there/, 'the doc says to type hello in alice');

  // The doc's command, on a free port, with the inspector on a free port
  // too; in a process group of its own, so that the server it debugs goes
  // with it however the test ends (killed, node inspect leaves it running).
  const child = spawn(process.execPath, ['inspect', '--port=0', 'scripts/server.ts', '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '--import tsx' },
    stdio: 'pipe',
    detached: true,
  });
  const inspect = new ChildProgram(child);
  let alice: ChildProgram | undefined;
  let port = '';
  /** Types each command of a transcript once what came before it has appeared. */
  const follow = async (transcript: string[], moment: string) => {
    for (const line of transcript) {
      const command = /^debug> (.*)$/.exec(line)?.[1];
      if (command !== undefined) {
        child.stdin.write(`${command}\n`);
        continue;
      }
      const shown = await within(30_000, `${moment}: node inspect printing "${line}"`, inspect.line(printed(line, port || '\\d+')));
      port ||= /Server listening to port: (\d+)/.exec(shown)?.[1] ?? '';
    }
  };
  try {
    await within(30_000, `node inspect printing "${first}"`, inspect.line(printed(first, '')));
    await follow(transcripts[0]!, 'at the start');
    assert.match(port, /^\d+$/, 'the server listens');
    alice = ChildProgram.start('scripts/client.ts', [...aliceCommand.split(' '), '--port', port]);
    await follow(transcripts[1]!, 'once alice connects');
    await within(30_000, 'alice joining', alice.line(/^Now connected to chat server@ port \d+$/));
    alice.child.stdin.write('hello\n');
    await follow(transcripts[2]!, 'once alice says hello');
    assert.deepEqual(await within(30_000, 'node inspect leaving on .exit', inspect.exited), { code: 0, signal: null });
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
    alice?.child.kill('SIGKILL');
  }
});
