// The dashboard's sampler, SSE stream and stream set under a simulated clock, with fake sources and
// a fake uWS response: sampling only while subscribed, one snapshot per interval, the ring's bound,
// a slow client skipped then dropped (never buffered without bound), pings, history, clean ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimClock } from '../../sim/sim_clock.js';
import { appRecordOf } from '../../src/admin/deploy_local.js';
import type { ModelActorStats } from '../../src/batching/protocol.js';
import { DashboardStreams } from '../../src/dashboard/dashboard_streams.js';
import { SnapshotSampler } from '../../src/dashboard/snapshot_sampler.js';
import type { DashboardSources, Snapshot } from '../../src/dashboard/snapshot_types.js';
import { SseStream, type SseResponse } from '../../src/dashboard/sse.js';
import { newAppStats, observeLatency } from '../../src/query/app_route.js';
import { emptySnapshot } from '../../src/state/records.js';

/** Sources with one app whose answers the test adds; modelStats answers when `release` is called, or at once. */
function fakeSources(opts: { manual?: boolean } = {}) {
  const stats = newAppStats();
  const state = emptySnapshot();
  state.apps.set('a', appRecordOf('a', 'doubles', []));
  let statsCalls = 0;
  const pending: Array<(m: ModelActorStats[]) => void> = [];
  const sources: DashboardSources = {
    state: () => state,
    appStats: () => new Map([['a', stats]]),
    modelStats: () => {
      statsCalls++;
      if (opts.manual !== true) return Promise.resolve([]);
      return new Promise((resolve) => pending.push(resolve));
    },
    replicas: () => [],
    selectionWeights: () => null,
  };
  return {
    sources,
    stats,
    get statsCalls() {
      return statsCalls;
    },
    release: () => {
      for (const resolve of pending.splice(0)) resolve([]);
    },
  };
}

/** Lets the promise callbacks of a sample run. */
const settle = () => new Promise((r) => setImmediate(r));

async function advance(clock: SimClock, ms: number): Promise<void> {
  clock.advanceBy(ms);
  await settle();
}

test('the sampler samples only while subscribed, once per interval, and keeps a bounded ring', async () => {
  const clock = new SimClock(1_700_000_000_000);
  const src = fakeSources();
  const sampler = new SnapshotSampler(src.sources, { clock, intervalMs: 1000, historyMax: 3 });
  await advance(clock, 5000);
  assert.equal(src.statsCalls, 0, 'nothing runs with no dashboard open');
  assert.equal(clock.pendingTimerCount, 0);

  const got: Snapshot[] = [];
  const unsubscribe = sampler.subscribe((s) => got.push(s));
  await settle();
  assert.equal(got.length, 0, 'the first sample is a baseline');
  for (let i = 1; i <= 5; i++) {
    for (let k = 0; k < i; k++) observeLatency(src.stats, 1);
    await advance(clock, 1000);
    assert.equal(got.length, i, `one snapshot per interval (after ${i})`);
    assert.equal(got.at(-1)!.apps[0]!.qps, i, 'the rate of this interval only');
    assert.equal(got.at(-1)!.intervalMs, 1000);
  }
  assert.deepEqual(
    sampler.history().map((s) => s.apps[0]!.qps),
    [3, 4, 5],
    'the ring keeps the last historyMax',
  );
  unsubscribe();
  assert.equal(sampler.running, false);
  assert.equal(clock.pendingTimerCount, 0, 'no timer left once the last subscriber went');
  const calls = src.statsCalls;
  await advance(clock, 5000);
  assert.equal(src.statsCalls, calls);
  assert.equal(sampler.history().length, 3, 'the ring outlives the subscribers');

  // Subscribing again takes a new baseline: the idle gap is not one long interval.
  sampler.subscribe((s) => got.push(s));
  await settle();
  await advance(clock, 1000);
  assert.equal(got.at(-1)!.intervalMs, 1000);
  sampler.close();
  assert.equal(clock.pendingTimerCount, 0);
});

test('a tick while the workers have not answered is skipped, not stacked', async () => {
  const clock = new SimClock(0);
  const src = fakeSources({ manual: true });
  const sampler = new SnapshotSampler(src.sources, { clock, intervalMs: 100 });
  const got: Snapshot[] = [];
  sampler.subscribe((s) => got.push(s));
  await advance(clock, 350);
  assert.equal(src.statsCalls, 1, 'one request in flight at a time');
  src.release(); // the baseline
  await settle();
  await advance(clock, 100);
  assert.equal(src.statsCalls, 2);
  src.release();
  await settle();
  assert.equal(got.length, 1);
  await advance(clock, 100);
  assert.equal(src.statsCalls, 3);
  sampler.close();
  src.release();
  await settle();
  assert.equal(got.length, 1, 'a sample finishing after close is dropped');
});

/** A uWS response that records what is written; `accept` decides whether a write drains at once. */
class FakeResponse implements SseResponse {
  readonly chunks: string[] = [];
  readonly headers: Array<[string, string]> = [];
  status = '';
  ended = false;
  closed = false;
  accept = true;
  #aborted: (() => void) | null = null;
  #writable: ((offset: number) => boolean) | null = null;

  cork(cb: () => void): this {
    cb();
    return this;
  }
  writeStatus(status: string): this {
    this.status = status;
    return this;
  }
  writeHeader(key: string, value: string): this {
    this.headers.push([key, value]);
    return this;
  }
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return this.accept;
  }
  end(): this {
    this.ended = true;
    return this;
  }
  close(): this {
    this.closed = true;
    this.#aborted?.();
    return this;
  }
  onWritable(handler: (offset: number) => boolean): this {
    this.#writable = handler;
    return this;
  }
  onAborted(handler: () => void): this {
    this.#aborted = handler;
    return this;
  }
  drain(): void {
    this.accept = true;
    this.#writable?.(0);
  }
  abort(): void {
    this.#aborted?.();
  }
  /** The events written, as [name, data]. */
  events(): Array<[string, string]> {
    return this.chunks.filter((c) => c.startsWith('event: ')).map((c) => [c.slice(7, c.indexOf('\n')), c.split('\ndata: ')[1]!.trimEnd()]);
  }
}

test('an SSE stream skips events while its client is behind, resumes when drained, and drops a stalled one', () => {
  const clock = new SimClock(0);
  const res = new FakeResponse();
  let gone = 0;
  const stream = new SseStream(res, { clock, stallMsMax: 30_000, headers: { 'Cache-Control': 'no-cache' } }, () => gone++);
  stream.start();
  assert.equal(res.status, '200 OK');
  assert.deepEqual(res.headers, [
    ['Content-Type', 'text/event-stream; charset=utf-8'],
    ['Cache-Control', 'no-cache'],
  ]);
  assert.ok(stream.event('snapshot', '{"a":1}'));
  assert.equal(res.chunks.at(-1), 'event: snapshot\ndata: {"a":1}\n\n');
  assert.ok(stream.event('x', 'two\nlines'));
  assert.equal(res.chunks.at(-1), 'event: x\ndata: two\ndata: lines\n\n');

  res.accept = false;
  assert.ok(stream.event('snapshot', '1'), 'written, but left buffered');
  const written = res.chunks.length;
  clock.advanceBy(1000);
  assert.equal(stream.event('snapshot', '2'), false);
  assert.equal(stream.comment('ping'), false);
  assert.equal(res.chunks.length, written, 'nothing more is written while the client is behind');
  assert.equal(stream.skippedCount, 2);
  res.drain();
  assert.ok(stream.event('snapshot', '3'));
  assert.equal(res.chunks.at(-1), 'event: snapshot\ndata: 3\n\n');

  res.accept = false;
  stream.event('snapshot', '4');
  clock.advanceBy(30_000);
  assert.equal(stream.event('snapshot', '5'), false);
  assert.ok(res.closed, 'a client blocked for stallMsMax is dropped');
  assert.equal(gone, 1, 'onGone once, although the close also aborts');
  assert.equal(stream.open, false);
  stream.end();
  assert.equal(res.ended, false, 'a dropped stream is not ended again');
});

test('an SSE stream ends once, whether the server ends it or the client goes', () => {
  const clock = new SimClock(0);
  for (const how of ['end', 'abort'] as const) {
    const res = new FakeResponse();
    let gone = 0;
    const stream = new SseStream(res, { clock, stallMsMax: 1000 }, () => gone++);
    stream.start();
    if (how === 'end') stream.end();
    else res.abort();
    stream.end();
    res.abort();
    assert.equal(gone, 1, how);
    assert.equal(res.ended, how === 'end');
    assert.equal(stream.event('snapshot', '{}'), false);
  }
});

test('the stream set sends history then snapshots to every stream, pings, and stops the sampler with the last', async () => {
  const clock = new SimClock(1_000_000);
  const src = fakeSources();
  const sampler = new SnapshotSampler(src.sources, { clock, intervalMs: 1000 });
  const streams = new DashboardStreams(sampler, { clock, pingMs: 15_000, stallMsMax: 30_000 });
  const one = new FakeResponse();
  streams.open(one);
  await settle();
  assert.deepEqual(one.events(), [['history', '{"intervalMs":1000,"snapshots":[]}']]);
  assert.equal(sampler.running, true);
  observeLatency(src.stats, 1);
  await advance(clock, 1000);
  await advance(clock, 1000);
  const two = new FakeResponse();
  streams.open(two);
  const history = JSON.parse(two.events()[0]![1]) as { intervalMs: number; snapshots: Snapshot[] };
  assert.equal(history.snapshots.length, 2, 'a new stream gets the ring');
  assert.equal(history.snapshots[0]!.apps[0]!.qps, 1);
  await advance(clock, 1000);
  assert.deepEqual(
    one.events().map(([name]) => name),
    ['history', 'snapshot', 'snapshot', 'snapshot'],
  );
  assert.deepEqual(two.events().at(-1), one.events().at(-1), 'the same snapshot to both');
  await advance(clock, 12_000);
  assert.ok(one.chunks.includes(': ping\n\n'), 'a ping every 15 s');

  one.abort();
  assert.equal(sampler.running, true, 'one stream is still open');
  two.abort();
  assert.equal(streams.count, 0);
  assert.equal(sampler.running, false, 'the sampler stops with the last stream');
  assert.equal(clock.pendingTimerCount, 0, 'and so does the ping timer');

  const three = new FakeResponse();
  streams.open(three);
  streams.closeAll();
  assert.ok(three.ended, 'closing the server ends every stream');
  assert.equal(sampler.running, false);
  const late = new FakeResponse();
  streams.open(late);
  assert.equal(late.status, '503 Service Unavailable');
  sampler.close();
});

test('the stream set refuses a stream past streamsMax, encodes the history once per snapshot, and pings every 5 s', async () => {
  const clock = new SimClock(1_000_000);
  const src = fakeSources();
  const sampler = new SnapshotSampler(src.sources, { clock, intervalMs: 1000 });
  const streams = new DashboardStreams(sampler, { clock, streamsMax: 2 }); // the default ping
  const stringify = JSON.stringify;
  let historyEncodings = 0;
  JSON.stringify = ((value: unknown, ...rest: []) => {
    if (typeof value === 'object' && value !== null && 'snapshots' in value) historyEncodings++;
    return stringify(value, ...rest);
  }) as typeof JSON.stringify;
  try {
    const one = new FakeResponse();
    streams.open(one);
    await settle();
    await advance(clock, 1000); // one snapshot in the ring
    const two = new FakeResponse();
    streams.open(two);
    assert.equal(historyEncodings, 2, 'the empty ring, then the ring with a snapshot');
    assert.equal(streams.count, 2);

    const refused = streams.refusal();
    assert.ok(refused !== null);
    assert.equal(refused.status, 503);
    assert.match(refused.message, /2 dashboard streams are open, the most this server serves at once \(streamsMax 2\)/);
    const three = new FakeResponse();
    streams.open(three);
    assert.equal(three.status, '503 Service Unavailable', 'one past the limit is refused');
    assert.equal(streams.count, 2);

    two.abort();
    assert.equal(streams.refusal(), null, 'a place is free again');
    for (let i = 0; i < 3; i++) {
      const again = new FakeResponse();
      streams.open(again);
      assert.equal(JSON.parse(again.events()[0]![1]).snapshots.length, 1);
      again.abort();
    }
    assert.equal(historyEncodings, 2, 'no new snapshot: the encoded history is reused');
    await advance(clock, 1000);
    const later = new FakeResponse();
    streams.open(later);
    assert.equal(historyEncodings, 3, 'a new snapshot: encoded again');
    assert.equal(JSON.parse(later.events()[0]![1]).snapshots.length, 2);

    const pings = () => one.chunks.filter((c) => c === ': ping\n\n').length;
    const before = pings();
    await advance(clock, 5_000);
    assert.equal(pings(), before + 1, 'a ping every 5 s');
  } finally {
    JSON.stringify = stringify;
    sampler.close();
    streams.closeAll();
  }
});
