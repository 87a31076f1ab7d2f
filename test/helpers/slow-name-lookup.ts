// Preloaded into a program under test (`node --import` this file): every
// name lookup (dns.lookup, which net uses to listen on a host name) answers
// half a second late, as a slow resolver does. What the program does while
// it waits (its stdin failing, say) must be heard.

import dns from 'node:dns';

const lookup = dns.lookup;
dns.lookup = ((...args: Parameters<typeof lookup>) => {
  setTimeout(() => (lookup as (...each: unknown[]) => void)(...args), 500);
}) as typeof lookup;
