import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffHistogram, histogramQuantile, metricsDelta, parseHistograms, primaryMean } from '../../tools/loadgen/metrics_scrape.js';

const scrape = (scale: number): string => `# HELP clipper_batch_size Batch sizes
# TYPE clipper_batch_size histogram
clipper_batch_size_bucket{model="a",le="1"} ${10 * scale}
clipper_batch_size_bucket{model="a",le="4"} ${30 * scale}
clipper_batch_size_bucket{model="a",le="+Inf"} ${40 * scale}
clipper_batch_size_sum{model="a"} ${100 * scale}
clipper_batch_size_count{model="a"} ${40 * scale}
clipper_batch_size_bucket{model="b",le="1"} ${10 * scale}
clipper_batch_size_bucket{model="b",le="4"} ${10 * scale}
clipper_batch_size_bucket{model="b",le="+Inf"} ${10 * scale}
clipper_batch_size_sum{model="b"} ${10 * scale}
clipper_batch_size_count{model="b"} ${10 * scale}
# TYPE clipper_queue_seconds histogram
clipper_queue_seconds_bucket{le="0.001"} ${50 * scale}
clipper_queue_seconds_bucket{le="0.01"} ${100 * scale}
clipper_queue_seconds_bucket{le="+Inf"} ${100 * scale}
clipper_queue_seconds_sum ${0.2 * scale}
clipper_queue_seconds_count ${100 * scale}
# TYPE clipper_requests_total counter
clipper_requests_total{code="200"} 123
# TYPE rpc_latency summary
rpc_latency{quantile="0.5"} 0.1
rpc_latency_sum 5
rpc_latency_count 50
`;

test('parses histogram families summed over label sets; ignores counters and summaries', () => {
  const h = parseHistograms(scrape(1));
  assert.deepEqual([...h.keys()].sort(), ['clipper_batch_size', 'clipper_queue_seconds']);
  const b = h.get('clipper_batch_size')!;
  assert.equal(b.count, 50);
  assert.equal(b.sum, 110);
  assert.deepEqual(b.buckets, [
    { le: 1, count: 20 },
    { le: 4, count: 40 },
    { le: Infinity, count: 50 },
  ]);
});

test('quantiles interpolate inside buckets like histogram_quantile', () => {
  const q = parseHistograms(scrape(1)).get('clipper_queue_seconds')!;
  assert.equal(histogramQuantile(q, 0.5), 0.001);
  assert.ok(Math.abs(histogramQuantile(q, 0.75) - 0.0055) < 1e-12);
  const b = parseHistograms(scrape(1)).get('clipper_batch_size')!;
  assert.equal(histogramQuantile(b, 0.99), 4); // falls in +Inf: highest finite bound
});

test('the delta between two scrapes summarises only the traffic in between', () => {
  const obs = metricsDelta(scrape(1), scrape(3))!;
  assert.deepEqual(Object.keys(obs.batchSize), ['clipper_batch_size']);
  assert.deepEqual(Object.keys(obs.queueTime), ['clipper_queue_seconds']);
  assert.equal(obs.batchSize['clipper_batch_size']!.count, 100);
  assert.equal(obs.batchSize['clipper_batch_size']!.mean, 220 / 100);
  assert.ok(Math.abs(obs.queueTime['clipper_queue_seconds']!.mean - 0.002) < 1e-12);
  assert.equal(primaryMean(obs.batchSize), 2.2);
});

test('absent or failed scrapes and missing families are tolerated', () => {
  assert.equal(metricsDelta(null, null), null);
  assert.deepEqual(metricsDelta(null, 'up 1\n# nothing else\n'), { batchSize: {}, queueTime: {} });
  assert.equal(metricsDelta(null, scrape(2))!.batchSize['clipper_batch_size']!.count, 100);
  assert.equal(primaryMean(undefined), null);
  assert.equal(primaryMean({}), null);
  // a counter reset (server restarted) falls back to the later scrape alone
  const before = parseHistograms(scrape(5)).get('clipper_batch_size')!;
  const after = parseHistograms(scrape(1)).get('clipper_batch_size')!;
  assert.equal(diffHistogram(before, after).count, 50);
});
