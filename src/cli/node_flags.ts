// The Node/V8 flags a serving process runs with (`clipper start` re-executes itself with them; the
// HTTP benchmarks start their servers with them). Both are about the tail latency of the main
// thread, measured with wrk -c64 on the 2-core machine (docs/benchmarks.md, "What changed"):
//
//   --max-semi-space-size=4   A young-generation collection pauses the main thread for a time that
//                             grows with the semi-space: with Node's default (16 MiB) the pauses
//                             averaged 3.8-4.2 ms (max 8.5), at 4 MiB 1.05-1.09 ms (max 2.8). A
//                             request allocates ~1.3 KB and almost all of it dies young, so the
//                             smaller space costs little extra work.
//   --v8-pool-size=N          V8's background threads (parallel scavenging, concurrent marking,
//                             compilation). Node starts 4; on 2 cores they fight the main thread, the
//                             batching worker and the replicas for CPU, and a scavenge waits for its
//                             helpers. N = cores - 1, at most 4 (Node's default from 5 cores up).
//
// Together: p99 at c=64 from 5.4-6.4 ms to 3.1-3.3 ms, and 8% more requests per second.

import os from 'node:os';

export function servingNodeFlags(cores = os.availableParallelism()): string[] {
  return ['--max-semi-space-size=4', `--v8-pool-size=${Math.min(4, Math.max(1, cores - 1))}`];
}

/**
 * Whether this process already runs with the serving flags, or chose its own (a young-generation
 * size on the command line or in NODE_OPTIONS), or was told to skip them (CLIPPER_NODE_FLAGS=off).
 */
export function hasServingNodeFlags(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): boolean {
  const chosen = (a: string): boolean => a.startsWith('--max-semi-space-size');
  return execArgv.some(chosen) || (env.NODE_OPTIONS ?? '').split(/\s+/).some(chosen) || env.CLIPPER_NODE_FLAGS === 'off';
}
