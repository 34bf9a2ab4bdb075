// Clock: the only source of time for the batching layer, injected so that the scheduler, the AIMD
// controller and the simulator (sim/sim_clock.ts) run the same code under real or simulated time.
//
// Contract:
//   nowMs()            absolute time in milliseconds (a float; sub-millisecond resolution). Query deadlines
//                      (`deadlineMs`) are on the same scale, so the frontend and the batching worker must use
//                      the same clock: systemClock uses performance.timeOrigin + performance.now(), which is
//                      comparable across worker threads of one process.
//   setTimer(ms, fn)   calls fn once, after at least `ms` milliseconds (clamped at 0); returns a handle.
//   clearTimer(h)      cancels a timer that has not fired; a no-op for fired or unknown handles.

export interface Clock {
  nowMs(): number;
  setTimer(delayMs: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
}

/** The process-wide time scale of deadlines (ms): comparable across the worker threads of one process. */
export function monotonicNowMs(): number {
  return performance.timeOrigin + performance.now();
}

export const systemClock: Clock = Object.freeze({
  nowMs: monotonicNowMs,
  setTimer(delayMs: number, fn: () => void): unknown {
    const timer = setTimeout(fn, Math.max(0, delayMs));
    // A pending batch-wait or in-flight timer must not keep a worker alive on shutdown.
    timer.unref();
    return timer;
  },
  clearTimer(handle: unknown): void {
    if (handle !== undefined && handle !== null) clearTimeout(handle as NodeJS.Timeout);
  },
});
