import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenLoopSchedule } from '../../tools/loadgen/open_loop.js';
import { LevelRecorder } from '../../tools/loadgen/recorder.js';

// A fake clock and a server that answers instantly: the only delay is the generator's own stall.
function stallRun(stallFromMs: number, stallToMs: number): LevelRecorder {
  let t = 0;
  const now = (): number => t;
  const rec = new LevelRecorder(0, 1000, 50);
  const schedule = new OpenLoopSchedule({
    rateRps: 1000,
    poisson: false,
    seed: 1,
    startMs: 0,
    endMs: 1000,
    now,
    dispatch: (intendedMs) => {
      rec.onSent(intendedMs, now());
      rec.onResponse(intendedMs, now(), 200, false); // answered at once
    },
  });
  while (!schedule.done) {
    schedule.tick();
    t = t === stallFromMs ? stallToMs : t + 1; // the event loop is blocked from stallFrom to stallTo
  }
  return rec;
}

test('open loop: a stall is charged to every request queued behind it (intended-time latency)', () => {
  const rec = stallRun(99, 200);
  // requests intended at 100..199 ms are sent at 200 ms: latencies 100, 99, ..., 1 ms; all else 0
  assert.equal(rec.sent, 1000);
  assert.equal(rec.responses, 1000);
  assert.equal(rec.latencyUs.max, 100_000);
  assert.equal(rec.latencyUs.countAtOrBelow(0), 900); // on time: 0..99 and 200..999 ms
  // SLO 50 ms: the requests intended at 100..149 waited 51..100 ms
  assert.equal(rec.withinSlo, 950);
  // the generator's lateness is recorded too, and here equals the latency
  assert.deepEqual(rec.sendLagUs.summary(), rec.latencyUs.summary());
});

test('open loop without a stall has zero latency against an instant server', () => {
  const rec = stallRun(-1, -1);
  assert.equal(rec.sent, 1000);
  assert.equal(rec.latencyUs.max, 0);
  assert.equal(rec.withinSlo, 1000);
});

test('requests intended outside the window are not recorded', () => {
  const rec = new LevelRecorder(100, 200, 10);
  rec.onSent(50, 50);
  rec.onResponse(50, 60, 200, false);
  rec.onResponse(60, 120, 200, false); // a warmup request answered inside the window
  rec.onSent(150, 150);
  rec.onResponse(150, 155, 503, false);
  rec.onSent(199);
  rec.onError(199, 'ECONNRESET');
  rec.onSent(200);
  assert.equal(rec.sent, 2);
  assert.equal(rec.responses, 1);
  assert.equal(rec.okResponses, 0);
  assert.equal(rec.successCompletedInWindow, 1); // throughput counts successful arrivals in the window
  assert.deepEqual([...rec.statusCounts], [[503, 1]]);
  assert.deepEqual([...rec.transportErrors], [['ECONNRESET', 1]]);
  assert.equal(rec.outstanding, 0);
});

test('constant-rate and Poisson schedules send the expected number of requests, reproducibly', () => {
  const times = (poisson: boolean, seed: number): number[] => {
    const out: number[] = [];
    const s = new OpenLoopSchedule({
      rateRps: 2000,
      poisson,
      seed,
      startMs: 0,
      endMs: 5000,
      now: () => 1e9,
      dispatch: (ms) => out.push(ms),
    });
    s.tick();
    assert.equal(s.done, true);
    return out;
  };
  const constant = times(false, 1);
  assert.equal(constant.length, 10_000);
  assert.ok(Math.abs(constant[1]! - constant[0]! - 0.5) < 1e-9);
  const p1 = times(true, 7);
  assert.deepEqual(times(true, 7), p1);
  assert.notDeepEqual(times(true, 8), p1);
  // 5 s at 2000/s: the count is Poisson(10000); 10 standard deviations is ±1000
  assert.ok(p1.length > 9000 && p1.length < 11000, `got ${p1.length}`);
  for (let i = 1; i < p1.length; i++) assert.ok(p1[i]! >= p1[i - 1]!);
});

test('schedule rejects a non-positive rate', () => {
  assert.throws(
    () => new OpenLoopSchedule({ rateRps: 0, poisson: false, seed: 1, startMs: 0, endMs: 1, now: () => 0, dispatch: () => {} }),
    /rate must be > 0/,
  );
});
