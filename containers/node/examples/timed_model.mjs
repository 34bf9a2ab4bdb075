// A model whose batch latency is t(n) = base + perInput * n (default 2 ms + 0.05 ms * n), for the
// batching benchmark (bench/batching_real.ts). Sleeps on a timer for most of t(n) and spins only the
// last ~1 ms, because Node timers have 1 ms granularity and a pure busy-wait would burn a core.
// Async: deploy it with options { isolate: 'inline' }. Answers every input with 1.
// Self-contained on purpose (test/fixtures/models/sleep_until.mjs is the same sleep for the test models):
// a Docker replica (bench/reliability/replica_kill.ts --manager docker) gets this entry file alone.
//
// TIMED_MODEL_BASE_MS and TIMED_MODEL_PER_INPUT_MS (environment of the replica) override the constants.

import { performance } from 'node:perf_hooks';

const kBaseMs = Number(process.env.TIMED_MODEL_BASE_MS ?? '2');
const kPerInputMs = Number(process.env.TIMED_MODEL_PER_INPUT_MS ?? '0.05');

function sleepUntil(targetMs) {
  return new Promise((resolve) => {
    const step = () => {
      const leftMs = targetMs - performance.now();
      if (leftMs <= 0) return resolve();
      if (leftMs > 1.5) return setTimeout(step, Math.max(1, Math.floor(leftMs - 1)));
      while (performance.now() < targetMs) {
        /* spin the last ~1 ms */
      }
      resolve();
    };
    step();
  });
}

export async function predict(inputs) {
  await sleepUntil(performance.now() + kBaseMs + kPerInputMs * inputs.length);
  return inputs.map(() => 1);
}
