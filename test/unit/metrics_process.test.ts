// The process's own resources in /metrics (src/metrics/process_metrics.ts): counts that follow
// timers and descriptors opened and released, so a leak shows from outside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import type { QueryStatsSource } from '../../src/query/query_stats_source.js';
import { createPromRegistry } from '../../src/metrics/prom_registry.js';
import { type ProcessProbe, readProcessResources } from '../../src/metrics/process_metrics.js';

const fakeStats = {
  counters: { queries: 0, defaults: 0, sloMisses: 0 },
  allAppStats: () => new Map(),
  cacheStats: () => ({ hitCount: 0, missCount: 0, coalescedCount: 0, bypassCount: 0, bytes: 0, entryCount: 0 }),
} as unknown as QueryStatsSource;

function registry(probe?: ProcessProbe) {
  const sources = { stats: fakeStats, models: async () => [], replicas: () => [] };
  return createPromRegistry('prometheus', probe === undefined ? sources : { ...sources, processProbe: probe });
}

/** The value of one series in Prometheus text (NaN when absent). */
function seriesValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

test('readProcessResources: a ref’d timer and an open file are counted, and released', () => {
  const before = readProcessResources();
  const timers = [setInterval(() => {}, 60_000), setInterval(() => {}, 60_000)];
  const fd = openSync(new URL(import.meta.url), 'r');
  const during = readProcessResources();
  assert.equal((during.activeResources.get('Timeout') ?? 0) - (before.activeResources.get('Timeout') ?? 0), 2);
  if (before.openFds !== null) assert.equal(during.openFds, before.openFds + 1);
  for (const t of timers) clearInterval(t);
  closeSync(fd);
  const after = readProcessResources();
  assert.equal(after.activeResources.get('Timeout') ?? 0, before.activeResources.get('Timeout') ?? 0);
  assert.equal(after.openFds, before.openFds);
  assert.ok(after.rssBytes > 0 && after.heapUsedBytes > 0);
});

test('/metrics text: the process series from a probe, by type and in total', async () => {
  const probe: ProcessProbe = {
    memory: () => ({ rss: 123_456, heapUsed: 7_890, heapTotal: 9_000, external: 555 }),
    resources: () => ['Timeout', 'TCPSocketWrap', 'Timeout', 'FSReqCallback'],
    fds: () => 42,
  };
  const text = await registry(probe).metrics();
  assert.equal(seriesValue(text, 'process_resident_memory_bytes'), 123_456);
  assert.equal(seriesValue(text, 'process_open_fds'), 42);
  assert.equal(seriesValue(text, 'nodejs_heap_size_used_bytes'), 7_890);
  assert.equal(seriesValue(text, 'nodejs_heap_size_total_bytes'), 9_000);
  assert.equal(seriesValue(text, 'nodejs_external_memory_bytes'), 555);
  assert.equal(seriesValue(text, 'nodejs_active_resources{type="Timeout"}'), 2);
  assert.equal(seriesValue(text, 'nodejs_active_resources{type="TCPSocketWrap"}'), 1);
  assert.equal(seriesValue(text, 'nodejs_active_resources_total'), 4);
  assert.match(text, /# TYPE nodejs_active_resources gauge/);
  const noFds = await registry({ ...probe, fds: () => null }).metrics();
  assert.doesNotMatch(noFds, /^process_open_fds /m, 'no descriptor count where /proc is missing');
});

test('/metrics text: each batching thread’s resources, as its stats answer listed them', async () => {
  let models = 0;
  const sources = {
    stats: fakeStats,
    models: async () => {
      models++;
      return [];
    },
    replicas: () => [],
    threadResources: () => [
      { active: ['Timeout', 'TCPSocketWrap', 'Timeout'], heapUsedBytes: 1000 },
      { active: ['MessagePort'], heapUsedBytes: 2000 },
    ],
  };
  const text = await createPromRegistry('prometheus', sources).metrics();
  assert.equal(seriesValue(text, 'nodejs_thread_active_resources{thread="batching-0",type="Timeout"}'), 2);
  assert.equal(seriesValue(text, 'nodejs_thread_active_resources{thread="batching-0",type="TCPSocketWrap"}'), 1);
  assert.equal(seriesValue(text, 'nodejs_thread_active_resources{thread="batching-1",type="MessagePort"}'), 1);
  assert.equal(seriesValue(text, 'nodejs_thread_heap_size_used_bytes{thread="batching-1"}'), 2000);
  assert.ok(models > 0, 'the scrape asks the threads (models()) before reading their lists');
});

test('/metrics text of this process: a timer started shows, and goes when cleared', async () => {
  const reg = registry();
  const timeouts = async () => {
    const v = seriesValue(await reg.metrics(), 'nodejs_active_resources{type="Timeout"}');
    return Number.isNaN(v) ? 0 : v;
  };
  const before = await timeouts();
  const timer = setTimeout(() => {}, 60_000);
  assert.equal(await timeouts(), before + 1);
  clearTimeout(timer);
  assert.equal(await timeouts(), before);
});

test('/metrics text: clipper_frontend_threads by state with frontend threads, no series with one frontend', async () => {
  let counts: { alive: number; failed: number } | null = { alive: 3, failed: 1 };
  const sources = { stats: fakeStats, models: async () => [], replicas: () => [], frontendThreads: () => counts };
  const reg = createPromRegistry('prometheus', sources);
  const text = await reg.metrics();
  assert.equal(seriesValue(text, 'clipper_frontend_threads{state="alive"}'), 3);
  assert.equal(seriesValue(text, 'clipper_frontend_threads{state="failed"}'), 1);
  counts = null;
  assert.doesNotMatch(await reg.metrics(), /^clipper_frontend_threads\{/m);
  assert.doesNotMatch(await registry().metrics(), /^clipper_frontend_threads\{/m);
});
