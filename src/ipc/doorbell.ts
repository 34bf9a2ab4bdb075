// Sleeping and waking the consumer of a ring without a syscall per record.
//
// Protocol (all operations sequentially consistent):
//   consumer: bell0 = load(bell); store(waiting, 1); if ring not empty → store(waiting, 0), drain;
//             else waitAsync(bell, bell0, timeout)
//   producer: publish record; if load(waiting) → store(waiting, 0); add(bell, 1); notify(bell)
// Either the consumer sees the record, or the producer sees `waiting` and bumps the bell after
// bell0 was read, so the wait returns at once ('not-equal') or is notified. A late notify can still
// wake a later wait, so every wake re-checks the ring, and every wait has a timeout.

import { kBellIdx, kWaitingIdx, type RingConsumer } from './ring_buffer.js';

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
 * Runs `onReady` on this thread's event loop whenever the ring has records. Never blocks the
 * thread: it uses Atomics.waitAsync, so sockets and timers keep running.
 */
export class Doorbell {
  readonly #consumer: RingConsumer;
  readonly #onReady: () => void;
  readonly #options: DoorbellOptions;
  #closed = false;
  #sleeping = false;
  readonly #pollMs: number;
  #lastRecordMs = -Infinity;
  #gapEwmaMs = Infinity;

  constructor(consumer: RingConsumer, options: DoorbellOptions, onReady: () => void) {
    this.#consumer = consumer;
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
    Atomics.add(this.#consumer.control, kBellIdx, 1);
    Atomics.notify(this.#consumer.control, kBellIdx);
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
    const control = this.#consumer.control;
    if (Atomics.load(control, kWaitingIdx) === 1 || this.#options.wantsWake?.() === false) return;
    Atomics.store(control, kWaitingIdx, 1);
    if (!this.#consumer.isEmpty()) this.#onReady();
  }

  // Drain, then yield to the event loop (setImmediate) so sockets and timers of this thread run
  // between drains; only when the ring stays empty through the spin does it sleep.
  #loop = (): void => {
    if (this.#closed) return;
    const consumer = this.#consumer;
    const control = consumer.control;
    if (consumer.isEmpty()) {
      for (let i = 0; i < this.#options.spinCount && consumer.isEmpty(); i++);
    }
    if (!consumer.isEmpty()) {
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
    const bell = Atomics.load(control, kBellIdx);
    Atomics.store(control, kWaitingIdx, this.#options.wantsWake?.() === false ? 0 : 1);
    if (!consumer.isEmpty()) {
      Atomics.store(control, kWaitingIdx, 0);
      setImmediate(this.#loop);
      return;
    }
    const result = Atomics.waitAsync(control, kBellIdx, bell, this.#options.waitTimeoutMs);
    if (result.async) {
      this.#sleeping = true;
      result.value.then(this.#wake, this.#wake);
    } else {
      Atomics.store(control, kWaitingIdx, 0);
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
    Atomics.store(this.#consumer.control, kWaitingIdx, 0);
    this.#loop();
  };
}
