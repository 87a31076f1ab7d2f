// Rounds of the loop made by hand, for the recording's and the view's tests.

import type { Round } from '../../src/view/trace.js';

/** A round in which the listener was readable and the loop accepted
 * `actions` connections, as a recording holds it. */
export function acceptingRound(number: number, actions = 1): Round {
  return {
    round: number,
    at: 0,
    inputs: ['server'],
    inputCount: 1,
    outputs: [],
    outputCount: 0,
    readable: ['server'],
    readableCount: 1,
    writable: [],
    writableCount: 0,
    actions: Array.from({ length: actions }, (_, each) => `server: accepted connection ${each + 1} from 127.0.0.1`),
    waitedMs: 0,
    workedMs: 0,
  };
}
