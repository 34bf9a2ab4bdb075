// The planner's inputs (src/planner/workload.ts, src/planner/profile.ts): seeded arrival processes,
// workload and trace parsing with errors naming the option, t(n) interpolation and profile JSON.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import type { WorkloadSpec } from '../../src/pipeline_spec.js';
import {
  interpolateLatencyStdUs,
  interpolateLatencyUs,
  type ModelProfile,
  profileFromJson,
  profileToJson,
} from '../../src/planner/profile.js';
import { arrivalTimesMs, describeWorkload, parseTraceText, parseWorkload } from '../../src/planner/workload.js';

function assertInvalid(fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ClipperError, `not a ClipperError: ${String(err)}`);
    assert.equal(err.code, 'CLP_ERR_INVALID_ARG');
    assert.equal(err.status, 400);
    assert.match(err.message, mentions);
    return true;
  });
}

function ascendingWithin(times: number[], durationMs: number): void {
  for (let i = 0; i < times.length; i++) {
    assert.ok(times[i]! >= 0 && times[i]! < durationMs, `arrival ${i} at ${times[i]} outside [0, ${durationMs})`);
    if (i > 0) assert.ok(times[i]! >= times[i - 1]!, `arrival ${i} before the one ahead of it`);
  }
}

/** Variance / mean of the arrival counts per window (1 for Poisson arrivals). */
function dispersion(times: number[], durationMs: number, windowMs: number): number {
  const counts = new Array<number>(Math.floor(durationMs / windowMs)).fill(0);
  for (const t of times) if (t < counts.length * windowMs) counts[Math.floor(t / windowMs)]!++;
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  const variance = counts.reduce((a, c) => a + (c - mean) ** 2, 0) / counts.length;
  return variance / mean;
}

test('poisson arrivals: seeded, at the rate, ascending, unclustered', () => {
  const spec = { kind: 'poisson', rate_qps: 200 } as const;
  const a = arrivalTimesMs(spec, 100_000, 1);
  assert.deepEqual(arrivalTimesMs(spec, 100_000, 1), a, 'same seed, same arrivals');
  assert.notDeepEqual(arrivalTimesMs(spec, 100_000, 2), a, 'another seed, other arrivals');
  ascendingWithin(a, 100_000);
  assert.ok(Math.abs(a.length - 20_000) < 20_000 * 0.03, `${a.length} arrivals for 20000 expected`);
  const d = dispersion(a, 100_000, 100);
  assert.ok(d > 0.85 && d < 1.15, `dispersion ${d}`);
});

test('constant arrivals: one every 1000 / rate ms from 0', () => {
  const a = arrivalTimesMs({ kind: 'constant', rate_qps: 50 }, 1000, 9);
  assert.deepEqual(
    a,
    Array.from({ length: 50 }, (_, i) => i * 20),
  );
});

test('bursty arrivals: the mean rate, but clustered', () => {
  const spec = { kind: 'bursty', rate_qps: 200, burst_factor: 3, on_mean_ms: 250, off_mean_ms: 750 } as const;
  const a = arrivalTimesMs(spec, 200_000, 4);
  assert.deepEqual(arrivalTimesMs(spec, 200_000, 4), a);
  ascendingWithin(a, 200_000);
  assert.ok(Math.abs(a.length - 40_000) < 40_000 * 0.08, `${a.length} arrivals for 40000 expected`);
  const d = dispersion(a, 200_000, 100);
  assert.ok(d > 2, `bursty dispersion ${d} should be well above Poisson's 1`);
});

test('trace arrivals: relative to the first, replayed in a loop', () => {
  const spec: WorkloadSpec = { kind: 'trace', arrivals_ms: [0, 10, 30], rate_qps: 100 };
  // Period: span 30 + mean gap 15 = 45 ms.
  assert.deepEqual(arrivalTimesMs(spec, 100, 1), [0, 10, 30, 45, 55, 75, 90]);
  assert.deepEqual(arrivalTimesMs(spec, 20, 1), [0, 10]);
});

test('trace files: JSON or numbers separated by white space and commas, sorted and made relative', () => {
  assert.deepEqual(parseTraceText('[100, 105.5, 120]'), [0, 5.5, 20]);
  assert.deepEqual(parseTraceText('# arrivals in ms\n20, 10\n40 # the last\n'), [0, 10, 30]);
  assertInvalid(() => parseTraceText('[1, "x"]'), /trace: entry 2/);
  assertInvalid(() => parseTraceText('1 two 3'), /trace: entry 2/);
  assertInvalid(() => parseTraceText('[5]'), /trace: needs at least 2/);
  assertInvalid(() => parseTraceText('[5, 5]'), /trace: .*span/);
  assertInvalid(() => parseTraceText('[1, 2'), /trace: not valid JSON/);
});

test('parseWorkload: poisson by default, errors name the option', () => {
  assert.deepEqual(parseWorkload({ rate: 50 }), { kind: 'poisson', rate_qps: 50 });
  assert.deepEqual(parseWorkload({ rate: 50, kind: 'constant' }), { kind: 'constant', rate_qps: 50 });
  const bursty = parseWorkload({ rate: 50, kind: 'bursty', burstFactor: 2 });
  assert.deepEqual(bursty, { kind: 'bursty', rate_qps: 50, burst_factor: 2, on_mean_ms: 250, off_mean_ms: 750 });
  assert.match(describeWorkload(bursty), /bursty 50 q\/s/);
  const trace = parseWorkload({ trace: '0 10 20 30' });
  assert.equal(trace.kind, 'trace');
  assert.equal(trace.rate_qps, (4 / 30) * 1000);
  assertInvalid(() => parseWorkload({}), /workload rate: is required/);
  assertInvalid(() => parseWorkload({ rate: -1 }), /workload rate: must be/);
  assertInvalid(() => parseWorkload({ rate: 10, kind: 'weibull' }), /workload kind: must be one of/);
  assertInvalid(() => parseWorkload({ rate: 10, kind: 'trace' }), /workload kind: 'trace' needs a trace file/);
  assertInvalid(() => parseWorkload({ rate: 10, burstFactor: 2 }), /workload burst_factor: applies to the bursty/);
  assertInvalid(() => parseWorkload({ rate: 10, kind: 'bursty', burstFactor: 5 }), /workload burst_factor: must be a number in \[1, 4\]/);
  assertInvalid(() => parseWorkload({ kind: 'poisson', trace: '1 2' }), /workload kind: 'poisson' cannot be combined/);
});

const kProfile: ModelProfile = {
  model: 'm',
  version: '3',
  latencyUs: [
    [1, 1000],
    [2, 1200],
    [8, 2400],
  ],
  latencyStdUs: [[1, 100]],
  hopOverheadUs: 250,
};

test('t(n): the profiled points, linear between them, extrapolated linearly', () => {
  assert.equal(interpolateLatencyUs(kProfile, 1), 1000);
  assert.equal(interpolateLatencyUs(kProfile, 2), 1200);
  assert.equal(interpolateLatencyUs(kProfile, 5), 1800);
  assert.equal(interpolateLatencyUs(kProfile, 16), 4000); // slope 200 µs per query past 8
  assert.equal(interpolateLatencyStdUs(kProfile, 1), 100);
  assert.equal(interpolateLatencyStdUs(kProfile, 4), 400, 'one point: proportional above it');
  assert.equal(interpolateLatencyStdUs({ ...kProfile, latencyStdUs: [] }, 4), 0);
});

test('profile JSON: round trip, and errors naming the model or stage', () => {
  const profile = { models: new Map([['m', kProfile]]), fallthrough: new Map([['c', [0.25]]]) };
  const json = JSON.parse(JSON.stringify(profileToJson(profile)));
  assert.deepEqual(profileFromJson(json), profile);
  const bad =
    (models: unknown, fallthrough: unknown = {}) =>
    () =>
      profileFromJson({ models, fallthrough });
  assertInvalid(bad({ m: { ...kProfile, latencyUs: [] } }), /model 'm' latencyUs: needs at least one point/);
  assertInvalid(
    bad({
      m: {
        ...kProfile,
        latencyUs: [
          [2, 10],
          [1, 5],
        ],
      },
    }),
    /model 'm' latencyUs\[1\]: batch sizes must be strictly ascending/,
  );
  assertInvalid(bad({ m: { ...kProfile, version: '' } }), /model 'm' version/);
  assertInvalid(bad({ m: { ...kProfile, hopOverheadUs: -1 } }), /model 'm' hopOverheadUs/);
  assertInvalid(bad({ m: kProfile }, { c: [1.5] }), /fallthrough 'c'/);
  assertInvalid(() => profileFromJson([]), /profile models: must be an object/);
});
