// CI fuzzing of the container protocol's two ends over loopback: a malicious frontend against a
// real Node runner process, a malicious replica against ReplicaConnection (fixed seed, modest runs).
import { test } from 'node:test';
import { kCiSeed } from './ci_seed.js';
import { replicaProperty, runnerProperty, startRunner } from './peer_properties.js';

test('a malicious frontend cannot stop the Node runner', async (t) => {
  const runner = await startRunner();
  t.after(() => runner.stop());
  await runnerProperty(runner, 50).run({ seed: kCiSeed, numRuns: 200 });
});

test('a malicious replica cannot crash the worker or pass the handshake without the secret', () =>
  replicaProperty.run({ seed: kCiSeed, numRuns: 200 }));
