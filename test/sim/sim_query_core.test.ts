// Seeded simulator runs of the main-thread query core: the real QueryProcessor under a simulated
// clock, with simulated workers that shed, fail, answer late or never (sim/query_core/simulator.ts
// lists the invariants checked on every run: every query answered exactly once and by its deadline,
// or cancelled and then never answered; the counters add up). Fixed seeds; a failure message says
// how to replay the run:  node dist/sim/run_core.js --seed N --scenario NAME
// All figures are simulated time; no assertion depends on wall-clock speed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DefaultReason } from '../../src/ipc/records.js';
import { explainDefault, kExplainQueueFull, kExplainShutdown, kExplainSlo } from '../../src/query/explanations.js';
import { checkAnswerFields, type SimQuery } from '../../sim/query_core/invariants.js';
import { kCoreScenarios } from '../../sim/query_core/scenarios.js';
import { runCoreSimulation, type CoreSimResult } from '../../sim/query_core/simulator.js';

const kSeeds = [1, 2, 3];

/** What each scenario must exercise (else it tests less than its name says). */
const kCoverage: Record<string, (r: CoreSimResult) => void> = {
  steady: (r) => {
    assert.ok(r.ok > 0.6 * r.answered, `${r.ok} model answers of ${r.answered}`);
    assert.ok(r.cacheHits > 0, 'no cache hit');
  },
  faults: (r) => {
    assert.ok((r.byExplanation[explainDefault(DefaultReason.ModelError, 'simulated model error')] ?? 0) > 0, 'no model error');
    assert.ok((r.byExplanation[kExplainSlo] ?? 0) > 0, 'no SLO default');
    assert.ok(r.pool.lateReplies > 0 && r.pool.droppedReplies > 0, 'no late or dropped reply');
  },
  overload: (r) => {
    assert.ok((r.byExplanation[kExplainQueueFull] ?? 0) > 0 && r.pool.refused > 0, 'no query shed at a full ring');
    assert.ok(r.pool.unreachable > 0, 'no deadline found unreachable');
  },
  cancels: (r) => {
    assert.ok(r.cancelled > 0.1 * r.submitted, `${r.cancelled} cancelled of ${r.submitted}`);
    assert.ok(r.pool.cancelRecords > 0 && r.cacheCoalesced > 0, 'no cancel record, or no coalescing');
  },
  off_slo: (r) => assert.ok((r.byExplanation[kExplainSlo] ?? 0) > 0, 'no SLO default'),
  coalesce: (r) => {
    assert.ok(r.cacheCoalesced > 0.1 * r.submitted, `${r.cacheCoalesced} coalesced of ${r.submitted}`);
    assert.ok(r.waitersDispatched > 0, 'no waiter dispatched itself after its owner failed');
  },
  cache_off: (r) => assert.equal(r.cacheHits + r.cacheCoalesced, 0),
  pipeline: (r) => assert.ok(r.cancelled > 0 && r.cacheCoalesced > 0, `${r.cancelled} cancelled, ${r.cacheCoalesced} coalesced`),
  shutdown: (r) => assert.ok((r.byExplanation[kExplainShutdown] ?? 0) > 0, 'no shutdown answer'),
};

for (const name of Object.keys(kCoreScenarios)) {
  test(`query core: every query answered exactly once, by its deadline: ${name}`, () => {
    const cover = kCoverage[name];
    assert.ok(cover !== undefined, `scenario ${name} has no coverage check`);
    for (const seed of kSeeds) {
      const r = runCoreSimulation(kCoreScenarios[name]!(seed));
      assert.ok(r.submitted > 1000, `seed ${seed}: ${r.submitted} queries`);
      assert.equal(r.answered + r.cancelled, r.submitted);
      cover(r);
    }
  });
}

test('query core: the same seed replays the same run; another seed differs', () => {
  const a = runCoreSimulation(kCoreScenarios.faults!(7));
  const b = runCoreSimulation(kCoreScenarios.faults!(7));
  const c = runCoreSimulation(kCoreScenarios.faults!(8));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('query core simulator: its answer check catches a late, wrong or misexplained answer', () => {
  const q: SimQuery = {
    index: 0,
    app: { name: 'a', sloMs: 10, model: 0, input: 'integers' },
    defaultJson: '"d"',
    expectedJson: '"m:1"',
    extra: null,
    submitMs: 0,
    deadlineMs: 10,
    token: 1,
    state: 'answered',
    answer: null,
  };
  const ctx = {
    closed: false,
    slackMs: 1e-9,
    fail: (m: string): never => {
      throw new Error(m);
    },
  };
  const ok = { queryId: 1, outputJson: '"m:1"', isDefault: false, explanation: null, shed: false, extra: null };
  checkAnswerFields(q, ok, 5, ctx);
  assert.throws(() => checkAnswerFields(q, { ...ok, outputJson: '"m:2"' }, 5, ctx), /its model answers/);
  const slo = { ...ok, outputJson: '"d"', isDefault: true, explanation: kExplainSlo };
  checkAnswerFields(q, slo, 10, ctx);
  assert.throws(() => checkAnswerFields(q, slo, 9, ctx), /an SLO default at 9/);
  assert.throws(() => checkAnswerFields(q, { ...slo, explanation: kExplainShutdown }, 5, ctx), /before close/);
  assert.throws(() => checkAnswerFields(q, { ...slo, explanation: kExplainQueueFull }, 5, ctx), /shed false/);
});
