// Deploys waiting for their pods: each waits, per model version, until its condition holds (enough
// ready pods of the current spec) or its timeout passes. The manager re-checks a model version's
// waits whenever the watch changes one of its pods, so a deploy completes as soon as the last pod is
// ready, with no polling.

interface Waiter {
  done: () => boolean;
  settle: (ok: boolean) => void;
  fail: (err: Error) => void;
}

export class RolloutWaits {
  readonly #waits = new Map<string, Set<Waiter>>();

  /** Resolves true once `done()` holds (checked now and on every check(key)), false after `timeoutMs`. */
  wait(key: string, done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = {
        done,
        settle: (ok) => {
          clearTimeout(timer);
          this.#drop(key, waiter);
          resolve(ok);
        },
        fail: (err) => {
          clearTimeout(timer);
          this.#drop(key, waiter);
          reject(err);
        },
      };
      const timer = setTimeout(() => waiter.settle(false), timeoutMs);
      let set = this.#waits.get(key);
      if (set === undefined) {
        set = new Set();
        this.#waits.set(key, set);
      }
      set.add(waiter);
    });
  }

  /** Something about the model version changed: settles the waits whose condition now holds. */
  check(key: string): void {
    const set = this.#waits.get(key);
    if (set === undefined) return;
    for (const waiter of [...set]) if (waiter.done()) waiter.settle(true);
  }

  /** Fails every wait of a model version (removed) or, without a key, every wait (closed). */
  failAll(err: Error, key?: string): void {
    const sets = key === undefined ? [...this.#waits.values()] : [this.#waits.get(key) ?? new Set<Waiter>()];
    for (const set of sets) for (const waiter of [...set]) waiter.fail(err);
  }

  #drop(key: string, waiter: Waiter): void {
    const set = this.#waits.get(key);
    set?.delete(waiter);
    if (set?.size === 0) this.#waits.delete(key);
  }
}
