// The profiler (src/planner/profiler.ts, sample_flow.ts, profile_batch.ts) on fake replicas under a
// fake clock: t(n) is the median of the measured batches per swept size and its spread a robust one
// (MAD, the slowest repetition dropped), a model fed by another stage is swept on that stage's
// outputs, cascade fall-through shares are conditional per level and carry their sample counts, the
// per-call overhead is the server's batch round trip minus t(1) and the per-query edge the rest of
// the probe's round trip at a low percentile (the documented defaults when the frontend or its
// statistics cannot be asked), and every replica opened is closed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClipperError } from '../../src/errors.js';
import type { Clock } from '../../src/lib/clock.js';
import type { PipelineSpec } from '../../src/pipeline_spec.js';
import { encodeBatch } from '../../src/planner/profile_batch.js';
import {
  kDefaultEdgeOverheadUs,
  kDefaultHopOverheadUs,
  kHopWarmups,
  lowQuantile,
  median,
  profilePipeline,
  robustSpread,
  type ServerCallTotals,
  sweepLatency,
  sweepSizes,
  type ProfiledModel,
  type ProfilerPorts,
} from '../../src/planner/profiler.js';
import type { ReplicaPort } from '../../src/planner/profiler_replica.js';
import { asModelInput, flowSamples } from '../../src/planner/sample_flow.js';

class FakeClock implements Clock {
  ms = 0;
  nowMs(): number {
    return this.ms;
  }
  setTimer(): unknown {
    return null;
  }
  clearTimer(): void {}
}

type Fn = (x: number[]) => unknown;

/** Fake replicas: model `m` answers fns[m](input) and takes costUs(n) of the fake clock per batch. */
function fakeReplicas(fns: Record<string, Fn>, costUs: (model: string, n: number) => number, clock: FakeClock) {
  const seen = new Map<string, unknown[][]>();
  const closed: string[] = [];
  const open = async (model: ProfiledModel): Promise<ReplicaPort> => ({
    async predict(inputs) {
      seen.set(model.model, [...(seen.get(model.model) ?? []), [...inputs]]);
      clock.ms += costUs(model.model, inputs.length) / 1000;
      return inputs.map((x) => fns[model.model]!(x as number[]));
    },
    async close() {
      closed.push(model.model);
    },
  });
  return { open, seen, closed };
}

const doubles = (name: string): ProfiledModel => ({ model: name, version: '1', inputType: 'doubles' });
const models = new Map(['feat', 'fast', 'slow'].map((m) => [m, doubles(m)]));
const cascadeSpec: PipelineSpec = {
  stages: [
    { name: 'f', kind: 'model', model: 'feat', output_type: 'doubles' },
    { name: 'c', kind: 'cascade', input: 'f', models: ['fast', 'slow'], threshold: 0.5 },
  ],
  output: 'c',
};
const fns: Record<string, Fn> = {
  feat: (x) => x.map((v) => v * 2),
  fast: (x) => ({ label: 1, confidence: x[0] }),
  slow: () => ({ label: 2, confidence: 0.99 }),
};
const samples = [[0.1], [0.2], [0.3], [0.4]];

/**
 * A fake frontend: probe i of a model takes t1(model) + 50 µs of replica hop (the server's batch
 * round trip), 20 µs queued, and 180 + 40 × (i mod 4) µs of HTTP edge; its statistics count each probe.
 */
function fakeFrontend(t1Us: (model: string) => number) {
  const totals = new Map<string, ServerCallTotals>();
  const probed: unknown[] = [];
  let i = 0;
  return {
    probed,
    async frontendRoundTripUs(model: ProfiledModel, input: unknown): Promise<number> {
      probed.push(input);
      const t = totals.get(model.model) ?? { batches: 0, batchUs: 0, queued: 0, queueUs: 0 };
      const batchUs = t1Us(model.model) + 50;
      totals.set(model.model, { batches: t.batches + 1, batchUs: t.batchUs + batchUs, queued: t.queued + 1, queueUs: t.queueUs + 20 });
      return batchUs + 20 + 180 + 40 * (i++ % 4);
    },
    async serverTotals(model: ProfiledModel): Promise<ServerCallTotals> {
      return { ...(totals.get(model.model) ?? { batches: 0, batchUs: 0, queued: 0, queueUs: 0 }) };
    },
  };
}

test('sweep sizes: powers of two below batch-max, then batch-max; the median of an even count is the middle mean', () => {
  assert.deepEqual(sweepSizes(1), [1]);
  assert.deepEqual(sweepSizes(8), [1, 2, 4, 8]);
  assert.deepEqual(sweepSizes(12), [1, 2, 4, 8, 12]);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(lowQuantile([40, 10, 30, 20, 50], 0.25), 20);
});

test('the spread is robust: MAD × 1.4826 with the slowest repetition dropped, so one stall is not noise', async () => {
  // Normal-ish timings around 1000 with one stall: a standard deviation would be ~3600; the MAD ignores it.
  assert.ok(Math.abs(robustSpread([1000, 1010, 990, 1005, 995, 10_000]) - 1.4826 * 5) < 1e-9);
  assert.equal(robustSpread([7, 7]), 0);
  const clock = new FakeClock();
  const times = [900, 1000, 1100, 1000, 9000]; // µs per batch, in turn
  let k = 0;
  const port: ReplicaPort = {
    async predict(inputs) {
      clock.ms += times[k++ % times.length]! / 1000;
      return inputs.map(() => 0);
    },
    async close() {},
  };
  const sweep = await sweepLatency(port, [[1]], { batchMax: 1, reps: 5, warmups: 0 }, clock);
  assert.deepEqual(sweep.latencyUs, [[1, 1000]]);
  // Without the 9000 µs stall: 900, 1000, 1000, 1100 around 1000: deviations 100, 0, 0, 100, median 50.
  assert.deepEqual(sweep.latencyStdUs, [[1, 74.1]]);
});

test('a cascade fed by a featurizer: t(n) per model, fall-through share, hop overhead, replicas closed', async () => {
  const clock = new FakeClock();
  const replicas = fakeReplicas(fns, (m, n) => (m === 'slow' ? 1000 + 500 * n : 100 + 10 * n), clock);
  const frontend = fakeFrontend((m) => (m === 'slow' ? 1500 : 110));
  const probed = frontend.probed;
  const ports: ProfilerPorts = { open: replicas.open, ...frontend, clock };
  const { profile, notes } = await profilePipeline(cascadeSpec, models, samples, ports, {
    batchMax: 8,
    reps: 3,
    warmups: 1,
    hopQueries: 3,
    seed: 5,
  });
  assert.deepEqual(notes, []);
  assert.deepEqual([...profile.models.keys()], ['feat', 'fast', 'slow']);
  const feat = profile.models.get('feat')!;
  assert.deepEqual(feat.latencyUs, [
    [1, 110],
    [2, 120],
    [4, 140],
    [8, 180],
  ]);
  assert.deepEqual(
    feat.latencyStdUs.map(([, s]) => s),
    [0, 0, 0, 0],
  );
  assert.equal(feat.version, '1');
  // Per call: the server's batch round trip (t(1) + 50) minus t(1); per query: the edge's low quartile.
  assert.equal(feat.hopOverheadUs, 50);
  assert.deepEqual(profile.models.get('slow')!.latencyUs[0], [1, 1500]);
  assert.equal(profile.models.get('slow')!.hopOverheadUs, 50);
  assert.equal(profile.edgeOverheadUs, 180);
  // The featurizer doubles the inputs: 0.2, 0.4 fall through the threshold 0.5, 0.6, 0.8 do not; 4 samples reached it.
  assert.deepEqual(profile.fallthrough, new Map([['c', [0.5]]]));
  assert.deepEqual(profile.fallthroughSamples, new Map([['c', [4]]]));
  // The cascade's models are swept on the featurizer's outputs, the slow one too (not only on what reached it).
  const sweptFast = replicas.seen.get('fast')!.slice(-1)[0]!;
  for (const x of sweptFast) assert.ok([0.2, 0.4, 0.6, 0.8].some((v) => Math.abs((x as number[])[0]! - v) < 1e-12));
  assert.deepEqual(replicas.seen.get('slow')![0], [[0.2], [0.4]], 'the flow sends the slow model the fall-through only');
  assert.equal(replicas.seen.get('slow')!.slice(-1)[0]!.length, 8);
  // Probes: the warm-ups + 3 per model, each input changed so the frontend's cache cannot answer it.
  assert.equal(probed.length, 3 * (kHopWarmups + 3));
  assert.equal(new Set(probed.map((p) => JSON.stringify(p))).size, probed.length);
  assert.deepEqual(replicas.closed.sort(), ['fast', 'feat', 'slow']);
});

test('a frontend that cannot be asked: the default overheads, and notes naming the model', async () => {
  const clock = new FakeClock();
  const replicas = fakeReplicas(fns, () => 100, clock);
  const ports: ProfilerPorts = {
    open: replicas.open,
    frontendRoundTripUs: async () => {
      throw new Error('HTTP 404');
    },
    serverTotals: async () => ({ batches: 0, batchUs: 0, queued: 0, queueUs: 0 }),
    clock,
  };
  const spec: PipelineSpec = { stages: [{ name: 'only', kind: 'model', model: 'fast' }], output: 'only' };
  const { profile, notes } = await profilePipeline(spec, models, samples, ports, {
    batchMax: 2,
    reps: 1,
    warmups: 0,
    hopQueries: 1,
    seed: 1,
  });
  assert.equal(profile.models.get('fast')!.hopOverheadUs, kDefaultHopOverheadUs);
  assert.equal(profile.edgeOverheadUs, kDefaultEdgeOverheadUs);
  assert.equal(notes.length, 2);
  assert.match(notes[0]!, /hop overhead of fast: .*HTTP 404.*default 300/);
  assert.match(notes[1]!, /edge overhead: no probe could be timed; using the default 1000 µs per query/);
});

test('statistics that cannot be read: per call at most the default, the rest of the round trip the edge', async () => {
  const clock = new FakeClock();
  const replicas = fakeReplicas(fns, () => 100, clock);
  const frontend = fakeFrontend(() => 100);
  const spec: PipelineSpec = { stages: [{ name: 'only', kind: 'model', model: 'fast' }], output: 'only' };
  const options = { batchMax: 1, reps: 1, warmups: 0, hopQueries: 4, seed: 1 };
  const failing: ProfilerPorts = {
    open: replicas.open,
    frontendRoundTripUs: frontend.frontendRoundTripUs,
    serverTotals: async () => {
      throw new Error('HTTP 404 on stats');
    },
    clock,
  };
  // Measured round trips (after the warm-ups) 100 + 50 + 20 + 260, 300, 180, 220 µs: the lowest quartile is
  // 250 above t(1), under the default, so per call 250; the edges left are 80, 120, 0, 40: the low quartile 0.
  const { profile, notes } = await profilePipeline(spec, models, samples, failing, options);
  assert.equal(profile.models.get('fast')!.hopOverheadUs, 250);
  assert.equal(profile.edgeOverheadUs, 0);
  assert.match(notes[0]!, /hop overhead of fast: the server's statistics could not split the round trip \(HTTP 404 on stats\)/);
  // Statistics that count other traffic too (two batches per probe): not used alike.
  const busy: ProfilerPorts = {
    ...failing,
    serverTotals: async (m) => {
      const t = await frontend.serverTotals(m);
      return { ...t, batches: 2 * t.batches };
    },
  };
  const again = await profilePipeline(spec, models, samples, busy, options);
  assert.match(again.notes[0]!, /counted 0 of 4 probes alone/);
});

test('a replica that fails to open: those opened are closed, the error surfaces', async () => {
  const clock = new FakeClock();
  const replicas = fakeReplicas(fns, () => 100, clock);
  const ports: ProfilerPorts = {
    open: async (m) => {
      if (m.model === 'fast') throw new ClipperError('CLP_ERR_DEPLOY_FAILED', 'fast would not start');
      return replicas.open(m);
    },
    frontendRoundTripUs: async () => 0,
    serverTotals: async () => ({ batches: 0, batchUs: 0, queued: 0, queueUs: 0 }),
    clock,
  };
  await assert.rejects(profilePipeline(cascadeSpec, models, samples, ports), /fast would not start/);
  assert.deepEqual(replicas.closed, ['feat']);
});

test('the flow: ensembles combine over a field, maps feed the predictor, fan-in combines stages', async () => {
  const run = async (model: string, inputs: readonly unknown[]): Promise<unknown[]> =>
    inputs.map((x) => {
      const v = (x as number[])[0]!;
      if (model === 'a' || model === 'b') return { label: v > 0.5 ? 1 : 0, confidence: 0.9 };
      if (model === 'c') return { label: 1, confidence: 0.6 };
      if (model === 'feat') return { output: [v + 10] };
      return [v];
    });
  const spec: PipelineSpec = {
    stages: [
      { name: 'e', kind: 'ensemble', models: ['a', 'b', 'c'], field: 'label', combine: 'vote' },
      { name: 'm', kind: 'map', models: ['feat', 'pred'], feature_type: 'doubles' },
      { name: 'j', kind: 'combine', inputs: ['e', 'm'] },
    ],
    output: 'j',
  };
  const types = new Map(['a', 'b', 'c', 'feat', 'pred'].map((m) => [m, 'doubles' as const]));
  const flow = await flowSamples(spec, types, [[0.2], [0.9]], run);
  assert.deepEqual(flow.modelInputs.get('pred'), [[10.2], [10.9]], 'the predictor gets the featurizer outputs');
  assert.deepEqual(flow.modelInputs.get('a'), [[0.2], [0.9]]);
  assert.equal(flow.fallthrough.size, 0);
});

test('stage outputs as inputs, and predict frames', () => {
  assert.deepEqual(asModelInput([1, 2], 'doubles', 's'), [1, 2]);
  assert.deepEqual(asModelInput({ output: [3] }, 'floats', 's'), [3]);
  assert.equal(asModelInput({ a: 1 }, 'strings', 's'), '{"a":1}');
  assert.throws(() => asModelInput({ label: 1 }, 'doubles', 'feat'), /pipeline stage 'feat': .*not an array of numbers/);

  const frame = encodeBatch(7, 'doubles', [[1.5, 2], [3]], 'm');
  assert.deepEqual(frame.lens, [2, 1]);
  assert.equal(frame.data!.length, 24);
  assert.equal(Buffer.from(frame.data!).readDoubleLE(16), 3);
  assert.equal(Buffer.from(encodeBatch(1, 'integers', [[7]], 'm').data!).readInt32LE(0), 7);
  assert.deepEqual(encodeBatch(1, 'strings', ['x'], 'm').items, ['x']);
  assert.deepEqual([...(encodeBatch(1, 'bytes', ['AQI='], 'm').items![0] as Uint8Array)], [1, 2]);
  assert.throws(
    () => encodeBatch(1, 'doubles', [[1], 'x'], 'm'),
    /sample input 1 for model 'm' \(doubles\) must be an array of finite numbers/,
  );
  assert.throws(() => encodeBatch(1, 'strings', [1], 'm'), /sample input 0 for model 'm' \(strings\) must be a string/);
});
