// The server under the inspector: a breakpoint set on a TypeScript line
// inside the loop, through the inspector protocol, pauses on that line.
// This is what an editor does when you click in the gutter of src/server.ts.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { frame } from '../src/wire.js';
import { ChildProgram, RawClient, ROOT } from './helpers/chat.js';
import { Inspector } from './helpers/inspector.js';
import { readInlineSourceMap, type Mapping } from './helpers/source-map.js';

test('a breakpoint on a TypeScript line inside the loop pauses on that line', {
  skip: typeof WebSocket === 'undefined' && 'this Node has no WebSocket client (Node 20 needs --experimental-websocket, which npm test passes)',
}, async () => {
  // The line to stop on: where the loop serves a readable client.
  const source = readFileSync(new URL('../src/server.ts', import.meta.url), 'utf8').split('\n');
  const targetLine = source.findIndex((line) => line.trim() === 'this.serve(sock as ChatConnection, inputs);');
  assert.ok(targetLine > 0, 'the line to break on is in src/server.ts');

  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', '--enable-source-maps', '--import', 'tsx', 'scripts/server.ts', '--port', '0'], {
    cwd: ROOT,
    stdio: 'pipe',
  });
  const server = new ChildProgram(child);
  let inspector: Inspector | undefined;
  try {
    const url = /ws:\/\/\S+/.exec(await server.errorLine(/Debugger listening on ws:/))![0];
    const port = Number(/\d+/.exec(await server.line(/^Server listening to port: \d+/))![0]);

    inspector = await Inspector.open(url);
    // Enabling the debugger makes it announce every script already loaded.
    const parsed = new Promise<{ scriptId: string; url: string; sourceMapURL: string }>((resolve) =>
      inspector!.on((method, params) => method === 'Debugger.scriptParsed' && params.url.endsWith('/src/server.ts') && resolve(params)),
    );
    await inspector.send('Debugger.enable');
    const script = await parsed;
    assert.match(script.sourceMapURL, /^data:application\/json;base64,/, 'tsx gives it an inline source map');
    const mappings = readInlineSourceMap(script.sourceMapURL).filter((m) => m.source.endsWith('server.ts'));

    // TypeScript line -> the place in tsx's JavaScript that runs it. tsx
    // squeezes the code onto few lines, so the column matters as much.
    const generated = mappings
      .filter((m) => m.originalLine === targetLine)
      .sort((a, b) => a.generatedLine - b.generatedLine || a.generatedColumn - b.generatedColumn)[0];
    assert.ok(generated, `line ${targetLine + 1} of src/server.ts has generated code`);
    await inspector.send('Debugger.setBreakpoint', {
      location: { scriptId: script.scriptId, lineNumber: generated.generatedLine, columnNumber: generated.generatedColumn },
    });

    // A client connects and sends its name: the loop serves it, and stops.
    const paused = inspector.next('Debugger.paused');
    const alice = await RawClient.connect(port);
    alice.writeRaw(frame('NAME: alice'));
    const { callFrames } = await paused;
    const top = callFrames[0];
    assert.equal(top.location.scriptId, script.scriptId, 'paused in src/server.ts');
    // ...and back: the last mapping at or before where it paused.
    const back = mappings.filter((m: Mapping) => m.generatedLine === top.location.lineNumber && m.generatedColumn <= top.location.columnNumber).at(-1);
    assert.equal(back?.originalLine, targetLine, `paused on line ${(back?.originalLine ?? -1) + 1} of src/server.ts`);

    // Resumed, the server goes on and answers.
    await inspector.send('Debugger.resume');
    assert.equal(await alice.next(), 'CLIENT: 127.0.0.1');
  } finally {
    inspector?.close();
    child.kill('SIGKILL');
    await server.exited;
  }
});
