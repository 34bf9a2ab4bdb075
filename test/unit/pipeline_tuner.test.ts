// The reactive pipeline tuner (src/control/pipeline_tuner.ts) and its rate meter (src/control/arrival_rate.ts)
// against a fake clock and fake ports: a cumulative query counter advanced by hand, replica counts
// and plans held in maps, every write recorded.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../../src/config.js';
import { ArrivalRate } from '../../src/control/arrival_rate.js';
import { adminTunerPorts, PipelineTuner, type PipelineTunerPorts } from '../../src/control/pipeline_tuner.js';
import { appRecordOf, nodeModelRecord } from '../../src/admin/deploy_local.js';
import { emptySnapshot } from '../../src/state/records.js';
import type { Clock } from '../../src/lib/clock.js';
import type { PipelinePlan } from '../../src/pipeline_spec.js';
import { envelopeFor, replicasForRate } from '../../src/planner/capacity.js';

/** Planned at 100 qps: every query visits fast (150 qps a replica), 40% fall through to slow (15 qps a replica). */
function plan(extra: Partial<PipelinePlan> = {}): PipelinePlan {
  return {
    seed: 7,
    workload: { kind: 'poisson', rate_qps: 100 },
    slo_micros: 100_000,
    models: [
      {
        model: 'fast',
        version: '1',
        batch_size: 8,
        replicas: 1,
        latency_us: [
          [1, 1000],
          [8, 4000],
        ],
        visit_fraction: 1,
        capacity_qps_per_replica: 150,
      },
      {
        model: 'slow',
        version: '1',
        batch_size: 4,
        replicas: 3,
        latency_us: [[1, 10_000]],
        visit_fraction: 0.4,
        capacity_qps_per_replica: 15,
      },
    ],
    stage_budgets_micros: { c: 100_000 },
    predicted: { p99_micros: 60_000, p50_micros: 20_000, throughput_qps: 100, replicas: 4, slo_miss_ratio: 0 },
    envelope_qps: [70, 115],
    replicas_max: 8,
    reactive: true,
    ...extra,
  };
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function harness(initial: PipelinePlan = plan(), options: { intervalMs?: number } = {}) {
  let nowMs = 1_000_000;
  const timers = new Map<number, { atMs: number; fn: () => void }>();
  let nextTimer = 1;
  const clock: Clock = {
    nowMs: () => nowMs,
    setTimer(delayMs, fn) {
      const id = nextTimer++;
      timers.set(id, { atMs: nowMs + delayMs, fn });
      return id;
    },
    clearTimer(handle) {
      timers.delete(handle as number);
    },
  };
  const plans = new Map<string, PipelinePlan>([['app', initial]]);
  const counts = new Map<string, number>([['app', 0]]);
  const replicas = new Map<string, number>([
    ['fast', 1],
    ['slow', 3],
  ]);
  /** Model → another app that uses it too. */
  const otherUsers = new Map<string, string>();
  const sets: Array<[string, number]> = [];
  const stored: PipelinePlan[] = [];
  const log: string[] = [];
  /** When set, setReplicas waits for it (to change things while a change is in flight). */
  let gate: Deferred | null = null;
  const ports: PipelineTunerPorts = {
    plannedApps: () => plans,
    queryCount: (app) => counts.get(app) ?? 0,
    otherUser: (_app, model) => otherUsers.get(model),
    replicasOf: (model) => replicas.get(model),
    async setReplicas(model, count) {
      sets.push([model, count]);
      if (gate !== null) await gate.promise;
      replicas.set(model, count);
    },
    async storePlan(app, p) {
      stored.push(p);
      plans.set(app, p);
    },
    log: (line) => log.push(line),
  };
  const tuner = new PipelineTuner({ intervalMs: options.intervalMs ?? 1000, windowMs: 3000, clock }, ports);
  /** `ticks` ticks of 1 s each, with the app receiving `qps` queries per second. */
  const run = async (qps: number, ticks = 1, app = 'app'): Promise<void> => {
    for (let i = 0; i < ticks; i++) {
      counts.set(app, (counts.get(app) ?? 0) + qps);
      nowMs += 1000;
      await tuner.tick();
    }
  };
  return {
    tuner,
    plans,
    counts,
    replicas,
    otherUsers,
    sets,
    stored,
    log,
    timers,
    run,
    setGate: (g: Deferred | null) => {
      gate = g;
    },
    advanceMs: (ms: number) => {
      nowMs += ms;
    },
  };
}

test('ArrivalRate: the rate since the last reading, its moving average, and a counter that restarts', () => {
  const rate = new ArrivalRate(3000);
  assert.equal(rate.read(500, 0), null, 'the first reading only sets the start');
  assert.deepEqual(rate.read(600, 1000), { tickQps: 100, ewmaQps: 100, queries: 100, elapsedMs: 1000 });
  const second = rate.read(800, 2000)!;
  assert.equal(second.tickQps, 200);
  const alpha = 1 - Math.exp(-1000 / 3000);
  assert.ok(Math.abs(second.ewmaQps - (100 + alpha * 100)) < 1e-9, `${second.ewmaQps}`);
  assert.equal(rate.read(800, 2000), null, 'no time passed');
  const restarted = rate.read(30, 3000)!;
  assert.equal(restarted.queries, 30, 'a counter that went down counts from 0');
  rate.restartAt(42);
  assert.equal(rate.ewmaQps, 42);
  assert.throws(() => new ArrivalRate(0), /window must be > 0/);
});

test('a rate inside the envelope changes nothing', async () => {
  const h = harness();
  await h.run(100, 12);
  await h.run(80, 3);
  await h.run(110, 3);
  assert.deepEqual(h.sets, []);
  assert.deepEqual(h.stored, []);
  assert.deepEqual(h.log, []);
  assert.deepEqual([...h.tuner.followed], ['app']);
});

test('a 2x step held for 2 ticks sets replicas from replicasForRate once and stores the new envelope', async () => {
  const h = harness();
  await h.run(100, 6);
  await h.run(200, 1);
  assert.deepEqual(h.sets, [], 'one tick outside is not enough');
  await h.run(200, 1);
  const want = replicasForRate(plan(), 200);
  assert.ok(want.get('fast')! > 1 || want.get('slow')! > 3, 'twice the rate needs more replicas somewhere');
  const expected = [...want].filter(([model, n]) => n !== (model === 'fast' ? 1 : 3));
  assert.deepEqual(h.sets.sort(), expected.sort(), 'only the counts that change are written, each as replicasForRate gives it');
  assert.equal(h.stored.length, 1);
  assert.deepEqual(h.stored[0]!.envelope_qps, envelopeFor(200), 'the envelope is centred on the rate of the ticks outside');
  assert.deepEqual({ ...h.stored[0]!, envelope_qps: null }, { ...plan(), envelope_qps: null }, 'nothing else of the plan changes');
  assert.equal(h.log.length, 1, h.log.join('\n'));
  assert.match(h.log[0]!, /app 'app' at 200 qps, outside its envelope 70\.0–115: .*; envelope now 140–230 qps/);
  await h.run(200, 10);
  await h.run(205, 3);
  assert.equal(h.sets.length, expected.length, 'acts once per change');
  assert.equal(h.stored.length, 1);
});

test('a spike of one tick does nothing', async () => {
  const h = harness();
  await h.run(100, 6);
  await h.run(300, 1);
  await h.run(100, 6);
  assert.deepEqual(h.sets, []);
  assert.deepEqual(h.stored, []);
});

test('a drop scales down', async () => {
  const h = harness();
  await h.run(100, 6);
  await h.run(40, 6);
  const want = replicasForRate(plan(), 40);
  assert.ok(want.get('slow')! < 3, 'the capacity model gives slow fewer replicas at 40 qps');
  assert.deepEqual(new Map(h.replicas), new Map([...want].map(([m, n]) => [m, n])));
  assert.equal(h.stored.length, 1);
  assert.deepEqual(h.stored[0]!.envelope_qps, envelopeFor(40));
});

test('bounded by replicas_max', async () => {
  const h = harness(plan({ replicas_max: 5 }));
  await h.run(100, 3);
  await h.run(1000, 2);
  assert.ok(h.sets.length > 0, 'the step was acted on');
  for (const [model, n] of h.sets) assert.ok(n <= 5 && n >= 1, `${model} → ${n}`);
  assert.equal(h.replicas.get('slow'), 5, '1000 qps × 0.4 / 15 would be 27 replicas of slow');
});

test('reactive:false apps are untouched, and followed again once re-planned as reactive', async () => {
  const h = harness(plan({ reactive: false }));
  await h.run(100, 3);
  await h.run(300, 5);
  assert.deepEqual(h.sets, []);
  assert.deepEqual([...h.tuner.followed], []);
  h.plans.set('app', plan({ envelope_qps: [210, 345] }));
  await h.run(300, 5);
  assert.deepEqual(h.sets, [], 'inside the new envelope');
  await h.run(600, 3);
  assert.ok(h.sets.length > 0);
});

test('an app nobody has queried is left as planned', async () => {
  const h = harness();
  await h.run(0, 10);
  assert.deepEqual(h.sets, [], 'no queries yet: not scaled down before its load arrives');
  await h.run(100, 5);
  assert.deepEqual(h.sets, []);
  await h.run(0, 6);
  assert.ok(h.sets.length > 0, 'once it had load, an idle app is scaled down');
  assert.deepEqual(h.stored.at(-1)!.envelope_qps, envelopeFor(0));
});

test('an app deleted while its replicas change: no plan is stored, and it is forgotten', async () => {
  const h = harness();
  const gate = deferred();
  h.setGate(gate);
  await h.run(100, 3);
  h.counts.set('app', h.counts.get('app')! + 200);
  h.advanceMs(1000);
  await h.tuner.tick();
  h.counts.set('app', h.counts.get('app')! + 200);
  h.advanceMs(1000);
  const ticking = h.tuner.tick();
  await new Promise((r) => setImmediate(r));
  assert.ok(h.sets.length > 0, 'the change started');
  h.plans.delete('app');
  gate.resolve();
  await ticking;
  assert.equal(h.sets.length, 1, 'the writes are made one at a time: none after the plan is gone');
  assert.deepEqual(h.stored, []);
  assert.match(h.log.join('\n'), /deleted meanwhile \(or its plan cleared\) after 1 of 2 write\(s\): the remaining writes were dropped/);
  h.setGate(null);
  await h.run(500, 3);
  assert.deepEqual([...h.tuner.followed], []);
});

test('an app re-planned while its replicas change keeps its new plan; the next change counts afresh', async () => {
  const h = harness();
  const gate = deferred();
  h.setGate(gate);
  await h.run(100, 3);
  await h.run(200, 1);
  h.counts.set('app', h.counts.get('app')! + 200);
  h.advanceMs(1000);
  const ticking = h.tuner.tick();
  await new Promise((r) => setImmediate(r));
  const replanned = plan({ envelope_qps: [140, 230], seed: 8 });
  h.plans.set('app', replanned);
  await h.run(200, 1); // a tick during the change: metered, nothing decided
  gate.resolve();
  await ticking;
  assert.equal(h.sets.length, 1, 'no write after the re-plan: the new plan counts stand');
  assert.deepEqual(h.stored, []);
  assert.equal(h.plans.get('app'), replanned);
  assert.match(h.log.join('\n'), /re-planned meanwhile after 1 of 2 write/);
  h.setGate(null);
  const before = h.sets.length;
  await h.run(200, 5);
  assert.equal(h.sets.length, before, 'inside the new plan envelope');
});

test('a failed write keeps the envelope, and the change is tried again after a window', async () => {
  const h = harness();
  const gate = deferred();
  h.setGate(gate);
  gate.promise.catch(() => undefined); // awaited later, by each write
  gate.reject(new Error('replicas could not start'));
  await h.run(100, 3);
  await h.run(200, 2);
  assert.ok(h.sets.length > 0);
  assert.deepEqual(h.stored, []);
  assert.match(h.log[0]!, /failed: .*replicas could not start; the envelope is kept/);
  const tries = h.sets.length;
  h.setGate(null);
  await h.run(200, 2);
  assert.equal(h.sets.length, tries, 'not again within the window');
  await h.run(200, 3);
  assert.ok(h.sets.length > tries, 'tried again');
  assert.equal(h.stored.length, 1);
});

test('a plan cleared (clipper plan --apply) after the last replica write: no envelope is stored over it', async () => {
  const h = harness();
  const gate = deferred();
  h.setGate(gate);
  h.replicas.set('fast', 2); // only slow changes at 200 qps: one write
  await h.run(100, 3);
  await h.run(200, 1);
  h.counts.set('app', h.counts.get('app')! + 200);
  h.advanceMs(1000);
  const ticking = h.tuner.tick();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(h.sets, [['slow', replicasForRate(plan(), 200).get('slow')!]]);
  h.plans.delete('app');
  gate.resolve();
  await ticking;
  assert.deepEqual(h.stored, []);
  assert.match(h.log.join('\n'), /deleted meanwhile \(or its plan cleared\)$/);
});

test('a model another app also uses is left alone, logged once per (app, model); the others still follow the rate', async () => {
  const h = harness();
  h.otherUsers.set('slow', 'plain');
  await h.run(100, 3);
  await h.run(200, 2);
  const want = replicasForRate(plan(), 200);
  assert.ok(want.get('slow')! !== 3, 'slow would change if it were not shared');
  assert.deepEqual(h.sets, [['fast', want.get('fast')!]]);
  assert.equal(h.replicas.get('slow'), 3);
  assert.equal(h.stored.length, 1, 'the envelope still follows the rate');
  await h.run(400, 2);
  assert.equal(h.stored.length, 2);
  assert.ok(
    h.sets.every(([model]) => model === 'fast'),
    JSON.stringify(h.sets),
  );
  const shared = h.log.filter((line) => line.includes("leaves the replicas of model 'slow' alone: application 'plain' also uses it"));
  assert.equal(shared.length, 1, h.log.join('\n'));
  h.otherUsers.clear();
  await h.run(800, 2);
  assert.ok(
    h.sets.some(([model]) => model === 'slow'),
    'no longer shared: sized again',
  );
});

test('start() ticks on the clock, stop() ends it; interval 0 never ticks', () => {
  const h = harness();
  h.tuner.start();
  assert.equal(h.timers.size, 1);
  const [id, timer] = [...h.timers][0]!;
  h.timers.delete(id);
  timer.fn();
  assert.equal(h.timers.size, 1, 'the next tick is scheduled');
  h.tuner.stop();
  assert.equal(h.timers.size, 0);
  const off = harness(plan(), { intervalMs: 0 });
  off.tuner.start();
  assert.equal(off.timers.size, 0);
});

test('config: the tuner options are checked, naming the option', () => {
  assert.equal(resolveConfig({}).pipelineTuneIntervalMs, 1000);
  assert.equal(resolveConfig({}).pipelineTuneWindowMs, 3000);
  assert.equal(resolveConfig({ pipelineTuneIntervalMs: 0 }).pipelineTuneIntervalMs, 0, '0 turns it off');
  assert.throws(
    () => resolveConfig({ pipelineTuneIntervalMs: 5 }),
    /config\.pipelineTuneIntervalMs must be 0 \(off\) or at least 10 \(got 5\)/,
  );
  assert.throws(() => resolveConfig({ pipelineTuneIntervalMs: -1 }), /config\.pipelineTuneIntervalMs must be an integer in \[0, /);
  assert.throws(() => resolveConfig({ pipelineTuneWindowMs: 0 }), /config\.pipelineTuneWindowMs must be an integer in \[10, /);
  assert.throws(() => resolveConfig({ pipelineTuneWindowMs: 1.5 }), /config\.pipelineTuneWindowMs/);
});

test('adminTunerPorts: plans and counts from the snapshot, writes through the admin routes (a refusal rejects)', async () => {
  const snapshot = emptySnapshot();
  snapshot.apps.set('app', { ...appRecordOf('app', 'doubles', []), pipeline_plan: plan() });
  snapshot.apps.set('plain', appRecordOf('plain', 'doubles', ['fast']));
  snapshot.models.set('fast:2', nodeModelRecord('fast', '2', 'doubles', 'm.js', { num_replicas: 4 }));
  snapshot.currentVersions.set('fast', '2');
  const calls: Array<[string, unknown]> = [];
  let status = 200;
  const ports = adminTunerPorts({
    snapshot: () => snapshot,
    queryCount: (app) => (app === 'app' ? 17 : 0),
    admin: async (route, body) => {
      calls.push([route, body]);
      return { status, body: status === 200 ? 'ok' : '{"cause":"refused"}' };
    },
    log: () => undefined,
  });
  assert.deepEqual([...ports.plannedApps().keys()], ['app']);
  assert.equal(ports.queryCount('app'), 17);
  snapshot.apps.set('app', {
    ...snapshot.apps.get('app')!,
    pipeline: { stages: [{ name: 'c', kind: 'cascade', models: ['fast', 'slow'] }], output: 'c' },
  });
  snapshot.apps.set('p2', {
    ...appRecordOf('p2', 'doubles', []),
    pipeline: { stages: [{ name: 'm', kind: 'model', model: 'slow' }], output: 'm' },
  });
  assert.equal(ports.otherUser('app', 'fast'), 'plain', "a plain app's link");
  assert.equal(ports.otherUser('app', 'slow'), 'p2', "another pipeline's stage");
  assert.equal(ports.otherUser('p2', 'slow'), 'app');
  assert.equal(ports.otherUser('p2', 'other'), undefined);
  snapshot.apps.delete('plain');
  assert.equal(ports.otherUser('app', 'fast'), undefined, "the app's own pipeline does not count");
  assert.equal(ports.replicasOf('fast'), 4, "the current version's count");
  assert.equal(ports.replicasOf('slow'), undefined);
  await ports.setReplicas('fast', 5);
  await ports.storePlan('app', plan({ envelope_qps: [1, 2] }));
  assert.deepEqual(calls, [
    ['set_num_replicas', { model_name: 'fast', model_version: '2', num_replicas: 5 }],
    ['set_pipeline_plan', { name: 'app', plan: plan({ envelope_qps: [1, 2] }), envelope_only: true }],
  ]);
  await assert.rejects(ports.setReplicas('slow', 2), /model 'slow' has no current version/);
  status = 503;
  await assert.rejects(ports.setReplicas('fast', 6), /set_num_replicas answered 503: .*refused/);
});

test('a tick brings the query counters up to date (refreshCounts) before it reads them', async () => {
  const h = harness();
  // The counters the tuner reads lag until refreshed, as the main thread's copy of the frontend threads' do.
  const seen = new Map<string, number>([['app', 0]]);
  const tuner = new PipelineTuner(
    { intervalMs: 1000, windowMs: 3000, clock: { nowMs: () => nowMs, setTimer: () => 0, clearTimer: () => undefined } },
    {
      plannedApps: () => h.plans,
      queryCount: (app) => seen.get(app) ?? 0,
      refreshCounts: async () => {
        for (const [app, n] of h.counts) seen.set(app, n);
      },
      otherUser: () => undefined,
      replicasOf: (model) => h.replicas.get(model),
      setReplicas: async (model, count) => {
        h.sets.push([model, count]);
      },
      storePlan: async () => undefined,
      log: () => undefined,
    },
  );
  let nowMs = 0;
  for (const qps of [100, 100, 100, 300, 300, 300]) {
    h.counts.set('app', h.counts.get('app')! + qps);
    nowMs += 1000;
    await tuner.tick();
  }
  assert.ok(h.sets.length > 0, 'the tripled rate was seen through the refreshed counters');
});
