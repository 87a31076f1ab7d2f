// Two hosts on one machine, for the tests where the server must tell one
// address from another: 127.0.0.1 and ::1, the two loopback addresses every
// system has. (Linux answers on all of 127.0.0.0/8, but macOS has
// 127.0.0.1 alone on lo0: binding 127.0.0.2 there fails with EADDRNOTAVAIL.)

import { once } from 'node:events';
import { connect, createServer } from 'node:net';

/** The host a test server listens on to be reached at both addresses: `::`
 * takes IPv4 connections as well (a dual-stack socket, the default on
 * Linux, macOS and Windows). An IPv4 peer then shows as ::ffff:127.0.0.1,
 * which the server shows as 127.0.0.1: one host, one address. */
export const BOTH_LOOPBACKS = '::';

/** The second host: the server sees it as ::1, another address than 127.0.0.1. */
export const OTHER_LOOPBACK = '::1';

/** Why a server on `::` cannot be reached here from both 127.0.0.1 and ::1,
 * or undefined if it can. Asked once, when a test file loads, so that a
 * test that needs both is skipped with the reason at once (some Linux
 * containers have IPv6 turned off; net.ipv6.bindv6only=1 makes `::` take
 * IPv6 only). */
export const noTwoLoopbacks: string | undefined = await whyNotTwoLoopbacks();

async function whyNotTwoLoopbacks(): Promise<string | undefined> {
  const server = createServer((socket) => socket.destroy());
  try {
    server.listen({ port: 0, host: BOTH_LOOPBACKS });
    await once(server, 'listening');
  } catch (error) {
    return `cannot listen on [${BOTH_LOOPBACKS}] (${(error as NodeJS.ErrnoException).code}): IPv6 is off here, so ${OTHER_LOOPBACK} cannot be a second host`;
  }
  try {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    for (const host of ['127.0.0.1', OTHER_LOOPBACK]) {
      const socket = connect({ port, host });
      try {
        await once(socket, 'connect');
      } catch (error) {
        return `a server on [${BOTH_LOOPBACKS}] cannot be reached from ${host} (${(error as NodeJS.ErrnoException).code}), so 127.0.0.1 and ${OTHER_LOOPBACK} cannot be two hosts`;
      } finally {
        socket.destroy();
      }
    }
    return undefined;
  } finally {
    server.close();
  }
}
