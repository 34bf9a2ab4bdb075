// Cost of one selection decision on the query path: read the policy snapshot from shared memory
// (seqlock) and sample a model from it, for 3 linked models. Goal (issue 6): < 5 µs.
// Each task call makes kInner decisions so the timer's own overhead (~tens of ns) is amortised;
// the per-decision numbers are the task latency / kInner.
//
//   npx tsc -p tsconfig.json && node dist/bench/selection.bench.js [--time-ms=500]

import { Bench } from 'tinybench';
import { Prng } from '../src/lib/prng.js';
import { sampleIndex } from '../src/selection/policies/sample_index.js';
import { SnapshotReader, SnapshotWriter, createSnapshotBuffer } from '../src/selection/weights_snapshot.js';
import { parsePolicyConfig } from '../src/selection/policies/params.js';
import { createPolicy } from '../src/selection/policies/registry.js';

const kInner = 1000;
const kModelCount = 3;
const timeArg = process.argv.find((a) => a.startsWith('--time-ms='));
const timeMs = timeArg === undefined ? 500 : Number(timeArg.slice('--time-ms='.length));

const sab = createSnapshotBuffer(16);
const writer = new SnapshotWriter(sab);
const reader = new SnapshotReader(sab);
const policy = createPolicy(parsePolicyConfig('exp3', {}, kModelCount), kModelCount);
writer.publish(policy.snapshot());
const probs = new Float64Array(16);
const prng = new Prng(1);
const fresh = [Float64Array.of(0.2, 0.3, 0.5), Float64Array.of(0.5, 0.3, 0.2)];
let sink = 0;

const bench = new Bench({ time: timeMs, warmupTime: 100 });
bench.add('snapshot read + sample (unchanged snapshot)', () => {
  for (let i = 0; i < kInner; i++) {
    reader.read(probs);
    sink += sampleIndex(probs, prng.next(), reader.count);
  }
});
bench.add('publish + read + sample (every read sees a new snapshot)', () => {
  for (let i = 0; i < kInner; i++) {
    writer.publish(fresh[i & 1]!);
    reader.read(probs);
    sink += sampleIndex(probs, prng.next(), reader.count);
  }
});
bench.add('policy.select in the worker (exp3, no snapshot)', () => {
  for (let i = 0; i < kInner; i++) {
    const s = policy.select({ uid: null }, prng);
    if (s.kind === 'one') sink += s.model;
  }
});

await bench.run();
const rows = bench.tasks.map((t) => {
  const lat = t.result?.latency;
  return {
    task: t.name,
    'ns/decision mean': lat === undefined ? NaN : Math.round((lat.mean * 1e6) / kInner),
    'ns/decision p99': lat?.p99 === undefined ? NaN : Math.round((lat.p99 * 1e6) / kInner),
    samples: lat?.samples?.length ?? 0,
  };
});
console.table(rows);
if (sink === -1) console.log(sink); // keep the work observable
