// Seeded runs of pipeline apps in the query core (sim/query_core/pipeline_sim.ts lists the checks:
// every query answered exactly once and never after its deadline, or cancelled and never answered;
// answers exactly what their models compute, or a named best so far or default; nothing left open;
// no run breaks the executor's invariants). Two of them once took the server down: the faults
// scenario's shutdown (runs of fallback 'default' cancelling calls the shutdown was answering), and
// the lagging one (a reply taken after its run's end: a call with no time left must not end a
// pass of the executor with nothing in flight).
// Fixed seeds; all figures are simulated time.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kPipelineSimScenarios, runPipelineSimulation } from '../../sim/query_core/pipeline_sim.js';

for (const seed of [1, 2, 3]) {
  test(`pipeline runs: steady, seed ${seed}`, () => {
    const r = runPipelineSimulation(kPipelineSimScenarios.steady!(seed));
    assert.ok(r.submitted > 500, `${r.submitted} queries`);
    assert.ok(r.ok > 0.9 * r.answered, `${r.ok} exact answers of ${r.answered}`);
    assert.ok(r.cancelled > 0, 'no cancel');
  });

  test(`pipeline runs: faults, overload, cancels and a shutdown, seed ${seed}`, () => {
    const r = runPipelineSimulation(kPipelineSimScenarios.faults!(seed));
    assert.ok(r.submitted > 1500, `${r.submitted} queries`);
    assert.ok(r.fallbacks > 0 && r.defaults > 0 && r.ok > 0 && r.cancelled > 0, JSON.stringify(r));
    assert.ok(r.failovers > 0, 'a cascade level that gave no answer asked the next one');
  });

  test(`pipeline runs: a lagging event loop (late timers and replies, no time left), seed ${seed}`, () => {
    const r = runPipelineSimulation(kPipelineSimScenarios.lagging!(seed));
    assert.ok(r.submitted > 1000, `${r.submitted} queries`);
    assert.ok(r.ok > 0 && r.fallbacks > 0 && r.defaults > 0 && r.failovers > 0, JSON.stringify(r));
  });
}

test('pipeline runs: the same seed replays the same run', () => {
  assert.deepEqual(runPipelineSimulation(kPipelineSimScenarios.faults!(7)), runPipelineSimulation(kPipelineSimScenarios.faults!(7)));
});
