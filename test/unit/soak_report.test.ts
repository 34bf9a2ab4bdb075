// The soak's figures (bench/reliability/soak_report.ts): windows, drift, growth, answers, leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QueryRecord } from '../../bench/reliability/harness.js';
import { countAnswers, leaksBetween, p99Drift, parseActiveResources, perWindow, rssGrowth } from '../../bench/reliability/soak_report.js';

function record(intendedMs: number, latencyMs: number, extra: Partial<QueryRecord> = {}): QueryRecord {
  return { intendedMs, doneMs: intendedMs + latencyMs, latencyMs, status: 200, isDefault: false, reason: '', answered: true, ...extra };
}

test('perWindow: quantiles by intended time, unanswered queries left out; drift from the first to the last filled window', () => {
  const records: QueryRecord[] = [];
  for (let i = 0; i < 100; i++) records.push(record(1000 + i, i < 99 ? 1 : 50)); // window 0: p99 = 1, p100 = 50
  for (let i = 0; i < 100; i++) records.push(record(3000 + i, 2)); // window 2
  records.push(record(3500, 0, { answered: false, status: 0, reason: 'unanswered' }));
  const w = perWindow(records, 1000, 1000, 3);
  assert.deepEqual(
    w.map((x) => [x.count, x.p50Ms, x.p99Ms]),
    [
      [100, 1, 1],
      [0, 0, 0],
      [100, 2, 2],
    ],
  );
  assert.equal(p99Drift(w), 1, 'p99 doubled: +100%');
  assert.equal(p99Drift(w.slice(0, 1)), 0, 'one window: no drift');
});

test('rssGrowth: the median RSS of the last window over the first', () => {
  const samples = [
    { atMs: 0, rssBytes: 100 },
    { atMs: 500, rssBytes: 100 },
    { atMs: 900, rssBytes: 999 }, // an outlier does not move the median
    { atMs: 1500, rssBytes: 103 },
    { atMs: 2100, rssBytes: 110 },
    { atMs: 2500, rssBytes: 110 },
    { atMs: 2900, rssBytes: 104 },
  ];
  assert.equal(rssGrowth(samples, 0, 1000, 3), 0.1);
  assert.equal(rssGrowth([], 0, 1000, 3), 0);
});

test('countAnswers: unanswered and transport failures, defaults without a reason, error statuses (OIP defaults excepted)', () => {
  const records = [
    record(0, 1),
    record(0, 1, { isDefault: true, reason: 'Failed to retrieve a prediction response within the specified latency SLO' }),
    record(0, 1, { isDefault: true, reason: '' }),
    record(0, 1, { status: 0, reason: 'transport: ECONNRESET' }),
    record(0, 1, { answered: false, status: 0, reason: 'unanswered' }),
    record(0, 1, { status: 503, reason: 'Unavailable: the model cannot serve now' }),
    record(0, 1, { status: 400, reason: 'Invalid: bad tensor' }),
  ];
  const http = countAnswers('http', records);
  assert.deepEqual([http.sent, http.predictions, http.defaults, http.unanswered, http.badAnswers], [7, 1, 2, 2, 3]);
  assert.deepEqual(http.defaultsByReason, { 'Failed to retrieve a prediction response within the specified latency SLO': 1, '': 1 });
  const oip = countAnswers('oip', records);
  assert.equal(oip.badAnswers, 2, 'an OIP 503 with a reason is its default; a 400 is not');
  assert.deepEqual(oip.errorsByReason, { 'Unavailable: the model cannot serve now': 1, 'Invalid: bad tensor': 1 });
});

test('parseActiveResources and leaksBetween: main and thread series; only growth is a leak', () => {
  const text = [
    '# TYPE nodejs_active_resources gauge',
    'nodejs_active_resources{type="Timeout"} 2',
    'nodejs_active_resources{type="PipeWrap"} 8',
    'nodejs_active_resources_total 10',
    'nodejs_thread_active_resources{thread="batching-0",type="TCPSocketWrap"} 3',
  ].join('\n');
  const active = parseActiveResources(text);
  assert.deepEqual(active, { 'main Timeout': 2, 'main PipeWrap': 8, 'batching-0 TCPSocketWrap': 3 });
  const start = { rssBytes: 1, fds: 30, activeResources: active, activeResourcesTotal: 13 };
  assert.deepEqual(leaksBetween(start, { ...start, rssBytes: 2 }), []);
  const end = { ...start, fds: 31, activeResources: { ...active, 'main Timeout': 1, 'batching-0 Timeout': 1 } };
  assert.deepEqual(leaksBetween(start, end), ['fds 30 → 31', 'active batching-0 Timeout 0 → 1']);
});
