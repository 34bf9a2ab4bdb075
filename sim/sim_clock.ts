// Simulated Clock for tests and the simulator: time moves only when the driver advances it, and timers fire
// in (time, creation order) order, so a run is a pure function of its inputs and seed.

import type { Clock } from '../src/lib/clock.js';
import { DeadlineQueue } from '../src/lib/deadline_queue.js';

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

  /** Fires every timer due at or before targetMs, in order, then sets the time to targetMs. */
  advanceTo(targetMs: number): void {
    for (let next = this.#timers.peek(); next !== undefined && next.deadlineMs <= targetMs; next = this.#timers.peek()) {
      this.#timers.pop();
      this.#nowMs = Math.max(this.#nowMs, next.deadlineMs);
      next.fn();
    }
    this.#nowMs = Math.max(this.#nowMs, targetMs);
  }

  advanceBy(deltaMs: number): void {
    this.advanceTo(this.#nowMs + deltaMs);
  }
}
