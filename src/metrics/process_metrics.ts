// The server process's own resources, read at scrape time, so a leak can be seen from outside
// (the soak test, bench/reliability/soak.ts, compares them at the start and end of steady state):
//   process_resident_memory_bytes          resident set size
//   process_open_fds                       open file descriptors (/proc/self/fd; absent elsewhere)
//   nodejs_heap_size_used_bytes            V8 heap in use
//   nodejs_heap_size_total_bytes           V8 heap committed (used plus free space V8 holds)
//   nodejs_external_memory_bytes           memory outside the heap held by JS objects (buffers)
//   nodejs_active_resources{type}          the main thread's resources that keep its event loop
//                                          alive (process.getActiveResourcesInfo(): Timeout,
//                                          TCPSocketWrap, FSReqCallback, ...), by type
//   nodejs_active_resources_total          their sum
//   nodejs_thread_active_resources{thread,type}  the same for each batching thread (batching-0, ...;
//                                          the selection worker shares thread 0 on a 2-core machine)
//   nodejs_thread_heap_size_used_bytes{thread}  each batching thread's V8 heap in use
// The names are those of prom-client's default metrics. Only ref'd resources are listed (Node has
// no public count of unref'd timers). A selection worker on its own thread is not listed.

import { readdirSync } from 'node:fs';

export interface ProcessResources {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  /** null where /proc/self/fd cannot be read (not Linux). */
  openFds: number | null;
  /** Active resources of the main thread by type, sorted by type. */
  activeResources: ReadonlyMap<string, number>;
}

export interface ProcessProbe {
  memory(): { rss: number; heapUsed: number; heapTotal: number; external: number };
  resources(): string[];
  fds(): number | null;
}

/** Open descriptors of this process, not counting the one that reads the directory. */
export function countOpenFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}

export const kProcessProbe: ProcessProbe = {
  memory: () => process.memoryUsage(),
  resources: () => process.getActiveResourcesInfo(),
  fds: countOpenFds,
};

/** A list of resource types (getActiveResourcesInfo()) as counts by type, sorted by type. */
export function countByType(types: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of types) counts.set(type, (counts.get(type) ?? 0) + 1);
  return new Map([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function readProcessResources(probe: ProcessProbe = kProcessProbe): ProcessResources {
  const memory = probe.memory();
  return {
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    openFds: probe.fds(),
    activeResources: countByType(probe.resources()),
  };
}
