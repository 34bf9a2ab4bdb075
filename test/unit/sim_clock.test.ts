// The simulated clock (src/lib/sim_clock.ts) both simulators use: timers fire in (time, creation
// order) order; runUntil leaves the time at the last timer fired, advanceTo moves it to the target;
// a cleared timer never fires; a timer set while firing runs in the same pass when it is due.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimClock } from '../../src/lib/sim_clock.js';
import { SimClock as SimClockFromSim } from '../../sim/sim_clock.js';

test('runUntil fires due timers in order and keeps the time at the last one', () => {
  const clock = new SimClock();
  const fired: string[] = [];
  clock.setTimer(5, () => fired.push('b@5'));
  clock.setTimer(2, () => {
    fired.push('a@2');
    clock.setTimer(1, () => fired.push('c@3'));
  });
  clock.setTimer(5, () => fired.push('d@5'));
  const cleared = clock.setTimer(4, () => fired.push('never'));
  clock.setTimer(20, () => fired.push('late'));
  clock.clearTimer(cleared);
  assert.equal(clock.runUntil(10), 4);
  assert.deepEqual(fired, ['a@2', 'c@3', 'b@5', 'd@5']);
  assert.equal(clock.nowMs(), 5, 'runUntil does not jump to its limit');
  assert.equal(clock.pendingTimerCount, 1);
  assert.equal(clock.nextTimerMs(), 20);
  assert.equal(clock.runUntil(Number.POSITIVE_INFINITY), 1);
  assert.equal(clock.nowMs(), 20);
  assert.equal(clock.nextTimerMs(), Infinity);
});

test('advanceTo moves the time to its target; sim/ re-exports the same class', () => {
  assert.equal(SimClockFromSim, SimClock);
  const clock = new SimClock(100);
  let at = -1;
  clock.setTimer(-3, () => {
    at = clock.nowMs();
  });
  clock.advanceBy(10);
  assert.equal(at, 100, 'a negative delay fires at once');
  assert.equal(clock.nowMs(), 110);
  clock.advanceTo(50);
  assert.equal(clock.nowMs(), 110, 'time never goes back');
});
