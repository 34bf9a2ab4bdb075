// Simulated Clock for the planner's simulator, the batching simulator in sim/ and tests: time moves only
// when the driver advances it, and timers fire in (time, creation order) order, so a simulated run is a
// pure function of its inputs and seed.

import type { Clock } from './clock.js';
import { DeadlineQueue } from './deadline_queue.js';

interface TimerEntry {
  token: number;
  deadlineMs: number;
  fn: () => void;
}

export class SimClock implements Clock {
  #nowMs: number;
  #nextToken = 1;
  readonly #timers = new DeadlineQueue<TimerEntry>();

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  nowMs(): number {
    return this.#nowMs;
  }

  setTimer(delayMs: number, fn: () => void): unknown {
    const token = this.#nextToken++;
    this.#timers.push({ token, deadlineMs: this.#nowMs + Math.max(0, delayMs), fn });
    return token;
  }

  clearTimer(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.remove(handle);
  }

  get pendingTimerCount(): number {
    return this.#timers.size;
  }

  /** Time of the next timer, or Infinity. */
  nextTimerMs(): number {
    return this.#timers.peek()?.deadlineMs ?? Infinity;
  }

  /**
   * Fires timers in order until none is left or the next is due after `limitMs`; returns the timers
   * fired. The time stays at the last timer fired (it does not jump to `limitMs`).
   */
  runUntil(limitMs: number): number {
    let fired = 0;
    for (let next = this.#timers.peek(); next !== undefined && next.deadlineMs <= limitMs; next = this.#timers.peek()) {
      this.#timers.pop();
      this.#nowMs = Math.max(this.#nowMs, next.deadlineMs);
      next.fn();
      fired++;
    }
    return fired;
  }

  /** Fires every timer due at or before targetMs, in order, then sets the time to targetMs. */
  advanceTo(targetMs: number): void {
    this.runUntil(targetMs);
    this.#nowMs = Math.max(this.#nowMs, targetMs);
  }

  advanceBy(deltaMs: number): void {
    this.advanceTo(this.#nowMs + deltaMs);
  }
}
