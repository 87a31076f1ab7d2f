// `npm run recipe`: the first step's server (src/recipe/server.ts). `-- --port N` as for `npm start`.

import { ChatServer, DEFAULT_PORT } from '../src/recipe/server.js';
import { parseCommandLine, parseIntegerOption } from './options.js';

try {
  const { port } = parseCommandLine({ port: { type: 'string' } });
  const server = await ChatServer.listen(parseIntegerOption('--port', port, DEFAULT_PORT, 0, 65535, '0 takes a free port'));
  await server.run();
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
}
