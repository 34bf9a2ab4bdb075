// The one way this server starts a long-lived thread (the batching workers and the standalone
// selection worker): a piscina pool of exactly one thread that runs exactly one task, the module's
// default export, for the thread's whole life. The task's promise settles when the thread's work
// is done (after its `stop` control message).
//
// atomics 'disabled': these threads own sockets and timers, so their event loop must never be
// parked in a synchronous Atomics.wait by piscina between tasks; idleTimeout: never reap the thread.

import type { TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';

/** One long-lived task on a thread of its own. */
export interface ThreadTask {
  /**
   * Settles when the task returns. Rejects when it throws or its thread dies, but not because of
   * destroy(): a caller that destroys the thread gets a resolved promise.
   */
  readonly done: Promise<void>;
  /** Terminate the thread (whether or not its task has returned). */
  destroy(): Promise<void>;
}

/** Starts tasks of one kind, each on a new thread: `init` is the task's argument, `transferList` moves ports with it. */
export interface ThreadStarter<Init> {
  start(init: Init, transferList: readonly TransferListItem[]): ThreadTask;
}

/** Starts the default export of the compiled module `filename`, one thread per task. */
export function threadStarter<Init>(filename: string): ThreadStarter<Init> {
  return { start: (init, transferList) => startThreadTask(filename, init, transferList) };
}

/** Run the default export of the compiled module `filename` once, on a thread of its own. */
export function startThreadTask(filename: string, init: unknown, transferList: readonly TransferListItem[]): ThreadTask {
  const pool = new Piscina({
    filename,
    minThreads: 1,
    maxThreads: 1,
    concurrentTasksPerWorker: 1,
    atomics: 'disabled',
    idleTimeout: Number.MAX_SAFE_INTEGER,
    recordTiming: false,
  });
  let destroyed = false;
  const done = (pool.run(init, { transferList: [...transferList] }) as Promise<unknown>).then(
    () => undefined,
    (err: unknown) => {
      if (!destroyed) throw err;
    },
  );
  return {
    done,
    destroy: async () => {
      destroyed = true;
      await pool.destroy();
    },
  };
}
