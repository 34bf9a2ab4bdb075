// A simulated clock as the code under test sees it, that fails (instead of hanging) when that code
// spins: a timer that finds nothing due and re-arms itself for now would make SimClock.advanceTo
// fire it forever at one instant.

import type { Clock } from '../../src/lib/clock.js';
import type { SimClock } from '../sim_clock.js';

/** More timers than this armed at one instant is a spin. */
export const kTimersPerInstantMax = 10_000;

export function guardedClock(clock: SimClock, fail: (message: string) => never): Clock {
  let instantMs = -1;
  let armed = 0;
  return {
    nowMs: () => clock.nowMs(),
    setTimer: (delayMs, fn) => {
      if (clock.nowMs() !== instantMs) {
        instantMs = clock.nowMs();
        armed = 0;
      }
      if (++armed > kTimersPerInstantMax) fail(`${armed} timers armed at ${instantMs} ms (a timer that re-arms itself for now?)`);
      return clock.setTimer(delayMs, fn);
    },
    clearTimer: (handle) => clock.clearTimer(handle),
  };
}
