// Sleeping and waking the consumer of one or several rings without a syscall per record.
//
// Protocol (all operations sequentially consistent):
//   consumer: bell0 = load(bell); store(waiting, 1); if any ring not empty → store(waiting, 0),
//             drain; else waitAsync(bell, bell0, timeout)
//   producer: publish record; if load(waiting) → store(waiting, 0); add(bell, 1); notify(bell)
// Either the consumer sees the record, or the producer sees `waiting` and bumps the bell after
// bell0 was read, so the wait returns at once ('not-equal') or is notified. A late notify can still
// wake a later wait, so every wake re-checks the rings, and every wait has a timeout.
//
// A consumer of several rings (a batching worker's query rings, one per frontend) watches them with
// ONE doorbell over one waiting/bell pair that all their producers share (ring_buffer.ts
// createBell): one spin, one bounded sleep and one polling window see every ring's traffic. Several
// producers may bump the bell for one sleep; that costs a spurious wake at most, which re-checks.

import assert from 'node:assert/strict';
import { kBellIdx, kWaitingIdx, RingConsumer } from './ring_buffer.js';

export interface DoorbellOptions {
  /** Iterations to poll the ring before sleeping (cheap hand-off under load; 0 disables). */
  spinCount: number;
  /** Upper bound of one sleep, so a missed wake-up costs at most this much. */
  waitTimeoutMs: number;
  /**
   * Whether a record published now should wake this thread. A consumer that could not act on a
   * record anyway (every replica busy: it will pull the ring when a replica answers) sleeps without
   * asking for a notify, saving the producer a futex wake per burst; it calls rearm() once it could
   * act again. Default: always.
   */
  wantsWake?: () => boolean;
  /**
   * Low-load polling: after its last record, keep checking the ring once per event-loop turn
   * (setImmediate: sockets and timers still run, the loop just never blocks) for up to this many
   * µs instead of sleeping, as long as records have been arriving less than twice this far apart
   * (a smoothed gap) and shouldPoll() agrees. Waking a thread parked on an idle core costs ~25 µs
   * here, most of a lightly loaded query's latency; polling costs a core while it lasts, so it is
   * only for waits expected to be short. 0 (default): never.
   */
  pollUs?: number;
  shouldPoll?: () => boolean;
}

/** Weight of a new gap between records in the smoothed gap that gates polling. */
const kGapEwmaWeight = 1 / 8;

/**
 * Runs `onReady` on this thread's event loop whenever one of its rings has records (onReady drains
 * them all). Never blocks the thread: it uses Atomics.waitAsync, so sockets and timers keep running.
 */
export class Doorbell {
  readonly #consumers: readonly RingConsumer[];
  /** The waiting/bell pair every consumer's producer bumps. */
  readonly #bell: Int32Array;
  readonly #onReady: () => void;
  readonly #options: DoorbellOptions;
  #closed = false;
  #sleeping = false;
  readonly #pollMs: number;
  #lastRecordMs = -Infinity;
  #gapEwmaMs = Infinity;

  /** `consumers`: one ring, or several that share one bell (createRing with the same createBell()). */
  constructor(consumers: RingConsumer | readonly RingConsumer[], options: DoorbellOptions, onReady: () => void) {
    const list = consumers instanceof RingConsumer ? [consumers] : consumers;
    assert(list.length >= 1, 'a doorbell watches at least one ring');
    if (list.length > 1) {
      const shared = list[0]!.sharedBell;
      assert(shared !== null && list.every((c) => c.sharedBell === shared), "one doorbell's rings share one bell (createBell)");
    }
    this.#consumers = list;
    this.#bell = list[0]!.bell;
    this.#options = options;
    this.#onReady = onReady;
    this.#pollMs = (options.pollUs ?? 0) / 1000;
  }

  start(): void {
    this.#loop();
  }

  close(): void {
    this.#closed = true;
    // Wake a pending wait so its promise settles promptly.
    Atomics.add(this.#bell, kBellIdx, 1);
    Atomics.notify(this.#bell, kBellIdx);
  }

  get sleeping(): boolean {
    return this.#sleeping;
  }

  /**
   * Called on this (the consumer's) thread when wantsWake() may have turned true: ask to be
   * notified again, and act at once on records published while it was not asking.
   */
  rearm(): void {
    if (!this.#sleeping || this.#closed) return;
    const bell = this.#bell;
    if (Atomics.load(bell, kWaitingIdx) === 1 || this.#options.wantsWake?.() === false) return;
    Atomics.store(bell, kWaitingIdx, 1);
    if (!this.#allEmpty()) this.#onReady();
  }

  /** Whether every ring is empty (one ring: one load of its tail). */
  #allEmpty(): boolean {
    const consumers = this.#consumers;
    for (let i = 0; i < consumers.length; i++) if (!consumers[i]!.isEmpty()) return false;
    return true;
  }

  // Drain, then yield to the event loop (setImmediate) so sockets and timers of this thread run
  // between drains; only when every ring stays empty through the spin does it sleep.
  #loop = (): void => {
    if (this.#closed) return;
    const bell = this.#bell;
    if (this.#allEmpty()) {
      for (let i = 0; i < this.#options.spinCount && this.#allEmpty(); i++);
    }
    if (!this.#allEmpty()) {
      this.#onReady();
      if (this.#pollMs > 0) this.#noteRecords();
      setImmediate(this.#loop);
      return;
    }
    if (
      this.#pollMs > 0 &&
      this.#gapEwmaMs < 2 * this.#pollMs &&
      performance.now() - this.#lastRecordMs < this.#pollMs &&
      this.#options.shouldPoll?.() !== false
    ) {
      setImmediate(this.#loop);
      return;
    }
    const bell0 = Atomics.load(bell, kBellIdx);
    Atomics.store(bell, kWaitingIdx, this.#options.wantsWake?.() === false ? 0 : 1);
    // Re-check every ring: a record published before `waiting` was set found it clear.
    if (!this.#allEmpty()) {
      Atomics.store(bell, kWaitingIdx, 0);
      setImmediate(this.#loop);
      return;
    }
    const result = Atomics.waitAsync(bell, kBellIdx, bell0, this.#options.waitTimeoutMs);
    if (result.async) {
      this.#sleeping = true;
      result.value.then(this.#wake, this.#wake);
    } else {
      Atomics.store(bell, kWaitingIdx, 0);
      setImmediate(this.#loop);
    }
  };

  #noteRecords(): void {
    const nowMs = performance.now();
    const gapMs = Math.min(nowMs - this.#lastRecordMs, 1000);
    this.#gapEwmaMs = this.#gapEwmaMs === Infinity ? gapMs : this.#gapEwmaMs + kGapEwmaWeight * (gapMs - this.#gapEwmaMs);
    this.#lastRecordMs = nowMs;
  }

  #wake = (): void => {
    this.#sleeping = false;
    Atomics.store(this.#bell, kWaitingIdx, 0);
    this.#loop();
  };
}
