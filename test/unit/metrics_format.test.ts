// GET /metrics content negotiation, bucket histogram summaries and Clipper's JSON document shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kBatchSizeBuckets, kLatencyUsBuckets } from '../../src/batching/model_actor.js';
import type { ModelActorStats } from '../../src/batching/protocol.js';
import { kAppLatencyUsBuckets, newAppStats, type AppStats } from '../../src/query/app_route.js';
import { bucketQuantile, newBucketHistogram, observeBucket, summarizeHistogram } from '../../src/lib/bucket_histogram.js';
import { clipperMetricsDocument, clipperNumber } from '../../src/metrics/clipper_json.js';
import { metricsFormatFor } from '../../src/metrics/negotiate.js';

test('metricsFormatFor: text/plain and OpenMetrics only when named; JSON otherwise', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'json'],
    ['', 'json'],
    ['*/*', 'json'],
    ['application/json', 'json'],
    ['text/*', 'json'],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'json'],
    ['text/plain', 'prometheus'],
    ['text/plain; version=0.0.4', 'prometheus'],
    ['TEXT/PLAIN;q=0.5, */*;q=0.1', 'prometheus'],
    ['application/json, text/plain, */*', 'json'], // axios: the first listed wins a tie
    ['text/plain;q=0.9, application/json', 'json'],
    ['text/plain;q=0, */*', 'json'],
    ['application/openmetrics-text', 'openmetrics'],
    // what Prometheus 2.x scrapers send
    [
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      'openmetrics',
    ],
    ['text/plain;version=0.0.4;q=1,*/*;q=0.1', 'prometheus'],
    ['__proto__, constructor', 'json'],
  ];
  for (const [accept, want] of cases) assert.equal(metricsFormatFor(accept), want, String(accept));
});

test('bucket histogram: exact size, min, max, mean and std_dev; percentiles inside [min, max]', () => {
  const bounds = [10, 20, 50];
  const h = newBucketHistogram(bounds);
  for (const v of [2, 4, 4, 4, 5, 5, 7, 9]) observeBucket(h, v);
  const s = summarizeHistogram(h);
  assert.deepEqual([s.size, s.min, s.max, s.mean], [8, 2, 9, 5]);
  assert.ok(Math.abs(s.stdDev - Math.sqrt(32 / 7)) < 1e-12, `std_dev ${s.stdDev}`);
  // all eight in the first bucket, narrowed to [2, 9]: linear inside it
  assert.equal(s.p50, 2 + 7 * 0.5);
  assert.ok(s.p99 <= 9 && s.p95 <= s.p99);
  observeBucket(h, 400);
  assert.equal(bucketQuantile(h, 1), 400, 'the +Inf bucket ends at the maximum');
  assert.deepEqual(summarizeHistogram(newBucketHistogram(bounds)), { size: 0, min: 0, max: 0, mean: 0, stdDev: 0, p50: 0, p95: 0, p99: 0 });
});

test('Clipper JSON: the four categories, Clipper names, every leaf a string', () => {
  const app: AppStats = { ...newAppStats(), queries: 4, defaults: 1, sloMisses: 0, latencyUs: newBucketHistogram(kAppLatencyUsBuckets) };
  for (const us of [300, 800, 1200, 90_000]) observeBucket(app.latencyUs, us);
  const model = {
    modelIndex: 0,
    name: 'm',
    version: '1',
    scheduler: { sentQueryCount: 3 },
    batchSize: newBucketHistogram(kBatchSizeBuckets),
    batchLatencyUs: newBucketHistogram(kLatencyUsBuckets),
    queueUs: newBucketHistogram(kLatencyUsBuckets),
    modelErrorCount: 0,
  } as unknown as ModelActorStats;
  observeBucket(model.batchSize, 3);
  observeBucket(model.batchLatencyUs, 700);
  const doc = clipperMetricsDocument({
    queryCount: 4,
    cache: { hitCount: 0, missCount: 0 },
    apps: [['a', app]],
    models: [model],
    meter: (name) =>
      name === 'app:a:prediction_throughput' ? { ratePerS: 2.5, rate1minPerS: 1, rate5minPerS: 0.5, rate15minPerS: 0.25 } : null,
  });
  assert.deepEqual(Object.keys(doc), ['counters', 'ratio_counters', 'meters', 'histograms']);
  const names = (xs: object[]): string[] => xs.map((x) => Object.keys(x)[0]!);
  assert.deepEqual(names(doc.counters), [
    'internal:aggregate_num_predictions',
    'internal:prediction_cache_lookups',
    'app:a:num_predictions',
    'model:m:1:num_predictions',
  ]);
  assert.deepEqual(names(doc.ratio_counters), ['internal:prediction_cache_hit_ratio', 'app:a:default_prediction_ratio']);
  assert.deepEqual(names(doc.meters), [
    'internal:aggregate_model_throughput',
    'app:a:prediction_throughput',
    'model:m:1:prediction_throughput',
  ]);
  assert.deepEqual(names(doc.histograms), ['app:a:prediction_latency', 'model:m:1:prediction_latency', 'model:m:1:batch_size']);
  for (const entry of [...doc.counters, ...doc.ratio_counters, ...doc.meters, ...doc.histograms]) {
    for (const leaf of Object.values(Object.values(entry)[0]!)) assert.equal(typeof leaf, 'string');
  }
  assert.deepEqual(doc.counters[2], { 'app:a:num_predictions': { count: '4' } });
  assert.deepEqual(doc.ratio_counters[0], { 'internal:prediction_cache_hit_ratio': { ratio: 'nan' } });
  assert.deepEqual(doc.ratio_counters[1], { 'app:a:default_prediction_ratio': { ratio: '0.25' } });
  assert.deepEqual(doc.meters[1], {
    'app:a:prediction_throughput': { unit: 'events per second', rate: '2.5', rate_1min: '1', rate_5min: '0.5', rate_15min: '0.25' },
  });
  const latency = doc.histograms[0]!['app:a:prediction_latency']!;
  assert.deepEqual(Object.keys(latency), ['unit', 'size', 'min', 'max', 'mean', 'std_dev', 'p50', 'p95', 'p99']);
  assert.deepEqual([latency.unit, latency.size, latency.min, latency.max, latency.mean], ['microseconds', '4', '300', '90000', '23075']);
  assert.equal(doc.histograms[2]!['model:m:1:batch_size']!.unit, 'queries');
  assert.equal(clipperNumber(1 / 3), '0.333333');
});
