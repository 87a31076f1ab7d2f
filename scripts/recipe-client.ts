// `npm run recipe:client -- --name NAME [--port N]`: the first step's client (src/recipe/client.ts).

import { ChatClient } from '../src/recipe/client.js';
import { DEFAULT_PORT } from '../src/recipe/server.js';
import { parseCommandLine, parseIntegerOption, UsageError } from './options.js';

try {
  const { name, port } = parseCommandLine({ name: { type: 'string' }, port: { type: 'string' } });
  if (!name) throw new UsageError('--name is required');
  const client = new ChatClient(name, parseIntegerOption('--port', port, DEFAULT_PORT, 1, 65535));
  if (await client.connect()) await client.run();
  else process.exitCode = 1;
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
}
