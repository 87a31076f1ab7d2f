// The chat as a Node user would write it without the select() design: one
// 'data' handler per socket, a frame decoder inside it, and one
// socket.write per delivered message. Node's defaults otherwise (Nagle's
// algorithm on, no write gathering). Same protocol, same strings as the
// project's server; it exists only to be measured against it.
//
//   npx tsx scripts/bench/plain-server.ts --port 0

import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { decodePickle, type PickleShape } from '../../src/wire/pickle.js';
import { FrameDecoder, frame } from '../../src/wire/wire.js';

interface Client {
  name: string;
  address: string;
  shape: PickleShape;
}

const { values } = parseArgs({ options: { port: { type: 'string', default: '8800' }, host: { type: 'string', default: '127.0.0.1' } } });
const clients = new Map<Socket, Client>();

function broadcast(message: string, except?: Socket): void {
  for (const [socket, client] of clients) {
    if (socket !== except) socket.write(frame(message, client.shape));
  }
}

const server = createServer((socket) => {
  const decoder = new FrameDecoder();
  const address = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const leave = () => {
    const client = clients.get(socket);
    if (!client) return;
    clients.delete(socket);
    broadcast(`\n(Now hung up: Client from ${client.name}@${client.address})`);
  };
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
    try {
      for (let payload = decoder.next(); payload !== undefined; payload = decoder.next()) {
        const { text, shape } = decodePickle(payload);
        const client = clients.get(socket);
        if (client === undefined) {
          const name = text.slice('NAME: '.length).trim();
          socket.write(frame(`CLIENT: ${address}`, shape));
          clients.set(socket, { name, address, shape });
          broadcast(`\n(Connected: New client (${clients.size}) from ${name}@${address})`, socket);
        } else if (text !== '') {
          broadcast(`\n#[${client.name}@${client.address}]>>${text}`, socket);
        }
      }
    } catch {
      socket.destroy();
      leave();
    }
  });
  socket.on('error', () => {});
  socket.on('close', leave);
});

server.listen(Number(values.port), values.host, () => {
  const { port } = server.address() as { port: number };
  console.log(`Server listening to port: ${port} ...`);
});
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
