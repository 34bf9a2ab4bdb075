// Writes waiting for their own change to come back: RedisStateStore resolves a write only once the
// change it published has been delivered to this store's listeners (in seq order, like every other
// change), so a caller that awaits a write sees its effect. A change not delivered in time fails the
// write (the store then resyncs).

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class DeliveryWaiters {
  #waiters: Waiter[] = [];

  /**
   * Resolves once settle() reaches `seq`; after `timeoutMs`, rejects with `timeoutError()` and calls
   * `onTimeout` instead.
   */
  wait(seq: number, timeoutMs: number, timeoutError: () => Error, onTimeout: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(timeoutError());
        onTimeout();
      }, timeoutMs);
      const waiter: Waiter = { seq, resolve, reject, timer };
      this.#waiters.push(waiter);
    });
  }

  /** Every change up to `lastSeq` has been delivered: resolve the writes waiting for them. */
  settle(lastSeq: number): void {
    if (this.#waiters.length === 0) return;
    const done = this.#waiters.filter((w) => w.seq <= lastSeq);
    if (done.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.seq > lastSeq);
    for (const w of done) {
      clearTimeout(w.timer);
      w.resolve();
    }
  }

  /** Fail every waiting write (connection lost, store closed). */
  rejectAll(err: Error): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
