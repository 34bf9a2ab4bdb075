// The micro-benchmarks run in CI with small parameters: this checks they run and measure
// something, never how fast (no thresholds).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMicro, runMicro } from '../../bench/micro.js';

test('micro-benchmarks run with small parameters and report every case', async () => {
  const results = await runMicro({ small: true });
  assert.ok(results.length >= 7);
  for (const r of results) {
    assert.ok(r.samples > 0, `${r.name} took samples`);
    assert.ok(Number.isFinite(r.meanNs) && r.meanNs > 0, `${r.name} has a mean`);
  }
  assert.match(formatMicro(results), /ring push\+pop/);
});
