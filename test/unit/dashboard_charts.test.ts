// The dashboard page's pure parts, under Node: the snapshot window and the chart columns it gives,
// batch-size bars, the report's point alignment, the SSE parser (any split of the stream gives the
// same events), number formatting, and the stream client's reconnects against a real local server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { describeAnswer, formatMs, formatNumber, formatReasons, formatShare, kNone } from '../../src/dashboard/ui/format.js';
import { alignPoints, appColumns, histogramBars, modelColumns, SnapshotWindow } from '../../src/dashboard/ui/series.js';
import { type SseEvent, SseParser } from '../../src/dashboard/ui/sse_parser.js';
import { type StreamState, StreamClient } from '../../src/dashboard/ui/stream_client.js';
import type { AppSnapshot, ModelSnapshot, Snapshot } from '../../src/dashboard/ui/types.js';

function app(name: string, extra: Partial<AppSnapshot> = {}): AppSnapshot {
  return {
    name,
    sloMicros: 20_000,
    policy: 'exp3',
    linkedModels: ['m'],
    defaultOutput: '0',
    qps: 100,
    latencyMsP50: 2,
    latencyMsP99: 9,
    sloAttainment: 0.99,
    defaultShare: 0.01,
    defaultReasons: {},
    shed: 0,
    cacheHitRatio: null,
    selection: [],
    ...extra,
  };
}

function model(name: string, version: string, extra: Partial<ModelSnapshot> = {}): ModelSnapshot {
  return {
    name,
    version,
    current: true,
    qps: 100,
    batchSizeMean: 4,
    batchSizeHistogram: [],
    queueMsMean: 1,
    modelMsMean: 3,
    batchMode: 'adaptive',
    numReplicas: 1,
    replicas: [],
    ...extra,
  };
}

const snap = (tMs: number, apps: AppSnapshot[], models: ModelSnapshot[] = []): Snapshot => ({ t: tMs, intervalMs: 1000, apps, models });

test('the window keeps the last five minutes, each time once, oldest first', () => {
  const win = new SnapshotWindow(300_000);
  assert.equal(win.latest, null);
  win.replace([snap(3000, []), snap(1000, []), snap(2000, []), snap(2000, [])]);
  assert.deepEqual(
    win.snapshots.map((s) => s.t),
    [1000, 2000, 3000],
  );
  assert.equal(win.add(snap(3000, [])), false, 'a repeated time is dropped');
  assert.equal(win.add(snap(2500, [])), false, 'an older one too');
  assert.equal(win.add(snap(301_500, [])), true);
  assert.deepEqual(
    win.snapshots.map((s) => s.t),
    [2000, 3000, 301_500],
    'older than 300 s before the newest: gone',
  );
  win.replace([]);
  assert.equal(win.latest, null);
});

test('app columns: x in seconds, null where the app was absent or nothing was measured', () => {
  const snaps = [
    snap(10_000, [app('a', { qps: 5, latencyMsP50: null })]),
    snap(11_000, []),
    snap(12_000, [app('a', { qps: 7, sloMicros: 15_000, sloAttainment: 0.5, defaultShare: null })]),
  ];
  const cols = appColumns(snaps, 'a');
  assert.deepEqual(cols.throughput, [
    [10, 11, 12],
    [5, null, 7],
  ]);
  assert.deepEqual(cols.latency, [
    [10, 11, 12],
    [null, null, 2],
    [9, null, 9],
    [20, null, 15],
  ]);
  assert.deepEqual(cols.quality, [
    [10, 11, 12],
    [99, null, 50],
    [1, null, null],
  ]);
  assert.deepEqual(cols.selectionModels, []);
  assert.deepEqual(cols.selection, [[10, 11, 12]]);
});

test('selection weights: one column per model ever seen, in percent', () => {
  const w = (a: number, b: number): Array<{ model: string; weight: number }> => [
    { model: 'm1', weight: a },
    { model: 'm2', weight: b },
  ];
  const snaps = [
    snap(1000, [app('a', { selection: w(0.5, 0.5) })]),
    snap(2000, [app('a', { selection: [...w(0.25, 0.5), { model: 'm3', weight: 0.25 }] })]),
  ];
  const cols = appColumns(snaps, 'a');
  assert.deepEqual(cols.selectionModels, ['m1', 'm2', 'm3']);
  assert.deepEqual(cols.selection, [
    [1, 2],
    [50, 25],
    [50, 50],
    [null, 25],
  ]);
});

test('model columns pick the version by name:version', () => {
  const snaps = [
    snap(1000, [], [model('m', '1', { qps: 3, batchSizeMean: 2 }), model('m', '2', { qps: 9, queueMsMean: null })]),
    snap(2000, [], [model('m', '2', { qps: 10, batchSizeMean: Number.NaN })]),
  ];
  const v1 = modelColumns(snaps, 'm:1');
  assert.deepEqual(v1.throughput, [
    [1, 2],
    [3, null],
  ]);
  assert.deepEqual(v1.batchSize, [
    [1, 2],
    [2, null],
  ]);
  const v2 = modelColumns(snaps, 'm:2');
  assert.deepEqual(v2.throughput, [
    [1, 2],
    [9, 10],
  ]);
  assert.deepEqual(
    v2.batchSize,
    [
      [1, 2],
      [4, null],
    ],
    'a non-finite value is a gap',
  );
  assert.deepEqual(v2.times, [
    [1, 2],
    [null, 1],
    [3, 3],
  ]);
});

test('histogram bars: one per bucket up to the last that holds batches, labelled by its upper bound', () => {
  const bars = histogramBars([
    { le: 1, count: 2 },
    { le: 4, count: 7 },
    { le: null, count: 1 },
  ]);
  assert.deepEqual(bars.labels, ['1', '4', '> 4']);
  assert.deepEqual(bars.columns, [
    [0, 1, 2],
    [2, 7, 1],
  ]);
  const sizes = [1, 2, 4, 8, 16, 32, 64, 128].map((le) => ({ le, count: le === 16 ? 5 : 0 }));
  assert.deepEqual(histogramBars(sizes).labels, ['1', '2', '4', '8', '16'], 'the empty buckets above 16 are left out');
  assert.deepEqual(histogramBars(sizes.map((b) => ({ ...b, count: 0 }))).labels, ['1', '2', '4', '8'], 'at least four buckets');
  assert.deepEqual(histogramBars([]).columns, [[], []]);
});

test('a pause in sampling (no dashboard open) is a gap in the lines, not a slope', () => {
  const snaps = [snap(1000, [app('a', { qps: 1 })]), snap(2000, [app('a', { qps: 2 })]), snap(60_000, [app('a', { qps: 3 })])];
  assert.deepEqual(appColumns(snaps, 'a').throughput, [
    [1, 2, 3, 60],
    [1, 2, null, 3],
  ]);
});

test('alignPoints: the union of x values, sorted, null where a series has no point', () => {
  const cols = alignPoints([
    {
      points: [
        [200, 2],
        [100, 1],
      ],
    },
    {
      points: [
        [150, 5],
        [200, 6],
        [Number.NaN, 1],
      ],
    },
  ]);
  assert.deepEqual(cols, [
    [100, 150, 200],
    [1, null, 2],
    [null, 5, 6],
  ]);
  assert.deepEqual(alignPoints([{ points: [] }]), [[], []]);
});

/** A stream cut into pieces at the given offsets. */
function feedAll(text: string, cuts: number[]): SseEvent[] {
  const parser = new SseParser();
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const events: SseEvent[] = [];
  let from = 0;
  for (const c of [...at, text.length]) {
    events.push(...parser.feed(text.slice(from, c)));
    from = c;
  }
  return events;
}

test('SSE parser: events, multi-line data, comments, CRLF; any split gives the same events', () => {
  const stream =
    ': ping\r\n\r\nevent: history\r\ndata: {"a":1}\r\n\r\n' +
    'data:no space\ndata:  two spaces\n\n' +
    'event: snapshot\rdata: {"t":2}\r\r' +
    'event: ignored-without-data\n\n' +
    'id: 7\nretry: 10\ndata\n\n' +
    'data: unfinished';
  const want: SseEvent[] = [
    { event: 'history', data: '{"a":1}' },
    { event: 'message', data: 'no space\n two spaces' },
    { event: 'snapshot', data: '{"t":2}' },
    { event: 'message', data: '' },
  ];
  assert.deepEqual(feedAll(stream, []), want);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
      assert.deepEqual(feedAll(stream, cuts), want);
    }),
  );
  const p = new SseParser();
  p.feed(': ping\n\n: ping\n');
  assert.equal(p.comments, 2);
});

test('numbers are short, with units, and a dash where nothing was measured', () => {
  assert.equal(formatNumber(null), kNone);
  assert.equal(formatNumber(Number.NaN), kNone);
  assert.equal(formatNumber(3), '3');
  assert.equal(formatNumber(3.14259), '3.14');
  assert.equal(formatNumber(31.4259), '31.4');
  assert.equal(formatNumber(314.259), '314');
  assert.equal(formatNumber(12_345), '12.3k');
  assert.equal(formatNumber(2_500_000), '2.50M');
  assert.equal(formatMs(4.213), '4.21 ms');
  assert.equal(formatMs(null), kNone);
  assert.equal(formatShare(0.9951), '99.5%');
  assert.equal(formatShare(undefined), kNone);
  assert.equal(formatReasons({}), 'none');
  assert.equal(formatReasons({ shed: 3, slo: 12, no_model: 0 }), '12 slo, 3 shed');
});

test('admin answers: the JSON error cause, else the body', () => {
  assert.equal(describeAnswer(200, '"Success"\n'), '"Success"');
  assert.equal(describeAnswer(204, ''), '204 OK');
  const err = JSON.stringify({ error: 'Json error', cause: 'slo_micros must be a positive integer', code: 'CLP_ERR_JSON_SCHEMA' });
  assert.equal(describeAnswer(400, err), '400 Json error: slo_micros must be a positive integer');
  assert.equal(describeAnswer(502, '<html>bad gateway</html>'), '502: <html>bad gateway</html>');
  assert.equal(describeAnswer(500, ''), '500: no message');
});

/** A local SSE server: each accepted stream sends history and one snapshot, then ends (a restart), or stays silent. */
async function sseServer(mode: {
  token: string | null;
  silent: boolean;
}): Promise<{ url: string; streams: () => number; close: () => void }> {
  let streams = 0;
  const server = http.createServer((req, res) => {
    if (mode.token !== null && req.headers.authorization !== `Bearer ${mode.token}`) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'Unauthorized', cause: 'send the admin token', code: 'CLP_ERR_UNAUTHORIZED' }));
      return;
    }
    streams++;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    if (mode.silent) return res.flushHeaders();
    const history = { intervalMs: 1000, snapshots: [snap(streams * 10_000, [app('a')])] };
    res.write(`event: history\ndata: ${JSON.stringify(history)}\n\n: ping\n\n`);
    res.end(`event: snapshot\ndata: ${JSON.stringify(snap(streams * 10_000 + 1000, [app('a')]))}\n\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/dashboard/stream`,
    streams: () => streams,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Seen {
  states: Array<[StreamState, string | null]>;
  history: number;
  snapshots: number;
}

function client(url: string, token: () => string | null, stallMs = 50_000): { c: StreamClient; seen: Seen } {
  const seen: Seen = { states: [], history: 0, snapshots: 0 };
  const c = new StreamClient(
    url,
    token,
    {
      onHistory: (h) => {
        assert.equal(h.snapshots.length, 1);
        seen.history++;
      },
      onSnapshot: () => {
        seen.snapshots++;
      },
      onState: (s, d) => {
        seen.states.push([s, d]);
      },
    },
    { initialDelayMs: 10, maxDelayMs: 50, stallMs, random: () => 0.5 },
  );
  return { c, seen };
}

test('stream client: takes history and snapshots, and reconnects each time the stream ends', async (t) => {
  const server = await sseServer({ token: null, silent: false });
  const { c, seen } = client(server.url, () => null);
  t.after(() => {
    c.stop();
    server.close();
  });
  c.start();
  await until('three streams', () => seen.snapshots >= 3);
  c.stop();
  assert.ok(seen.history >= 3);
  const kinds = seen.states.map(([s]) => s);
  assert.deepEqual(kinds.slice(0, 4), ['connecting', 'live', 'reconnecting', 'connecting']);
  const reconnecting = seen.states.find(([s]) => s === 'reconnecting')!;
  assert.match(reconnecting[1]!, /the stream ended .*retrying in 0\.0 s/);
});

test('stream client: a 401 waits for a token, then connects with it', async (t) => {
  const server = await sseServer({ token: 'tok-0123456789abcdef', silent: false });
  let token: string | null = null;
  const { c, seen } = client(server.url, () => token);
  t.after(() => {
    c.stop();
    server.close();
  });
  c.start();
  await until('the 401', () => seen.states.some(([s]) => s === 'unauthorized'));
  const refused = seen.states.find(([s]) => s === 'unauthorized')!;
  assert.equal(refused[1], '401 Unauthorized: send the admin token');
  assert.equal(server.streams(), 0);
  token = 'tok-0123456789abcdef';
  c.reconnectNow();
  await until('a stream with the token', () => seen.history >= 1);
  assert.ok(server.streams() >= 1);
});

test('stream client: a stream silent past stallMs is dropped and reopened', async (t) => {
  const server = await sseServer({ token: null, silent: true });
  const { c, seen } = client(server.url, () => null, 200);
  t.after(() => {
    c.stop();
    server.close();
  });
  c.start();
  await until('a second stream', () => server.streams() >= 2);
  const reconnecting = seen.states.find(([s]) => s === 'reconnecting')!;
  assert.match(reconnecting[1]!, /went silent/);
});
