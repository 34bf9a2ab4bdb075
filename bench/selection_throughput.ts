// Throughput of the selection layer against a single linked model, with wrk (Debian package `wrk`)
// and unique random inputs (bench/wrk/predict_random.lua: nothing is cached):
//
//   single   one linked model (no selection)
//   default  two linked models, `default` policy (always the first)
//   split    two linked models, `weighted_split` [1, 0]: the sampling path (snapshot read + seeded
//            sample + the "models" field) with all traffic on the first model, i.e. the selection
//            cost alone
//   exp3     two linked models, `exp3` (snapshot read + seeded sample per query; traffic split over
//            both models, so each model's batches are half as large)
//
// Rounds alternate the apps so that machine noise spreads evenly.
//   npm run build && node dist/bench/selection_throughput.js [--duration-s 4] [--rounds 3] [--connections 32]

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../src/paths.js';

const kNoop = path.join(kRepoRoot, 'containers', 'node', 'examples', 'noop_model.mjs');
const kLua = path.join(kRepoRoot, 'bench', 'wrk', 'predict_random.lua');
const kApps = ['single', 'default', 'split', 'exp3'] as const;

async function serve(): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const cluster = await Cluster.start({ config: { queryPort: 0, adminPort: 0 } });
  for (const name of ['n1', 'n2']) {
    await cluster.store.putModel({
      model_name: name,
      model_version: '1',
      input_type: 'doubles',
      labels: [],
      container_name: 'bench',
      model_data_path: 'DEPRECATED',
      batch_size: -1,
      num_replicas: 1,
      container: { runtime: 'node', entry: kNoop, options: { isolate: 'inline' } },
    });
    await cluster.waitForDeploy(name, '1');
    await cluster.store.setCurrentVersion(name, '1');
  }
  const base = {
    input_type: 'doubles' as const,
    default_output: '-1',
    latency_slo_micros: 100_000,
    overload_response: 'default_output' as const,
  };
  await cluster.store.putApp({ ...base, name: 'single', linked_models: ['n1'], selection_policy: 'default' });
  await cluster.store.putApp({ ...base, name: 'default', linked_models: ['n1', 'n2'], selection_policy: 'default' });
  await cluster.store.putApp({
    ...base,
    name: 'split',
    linked_models: ['n1', 'n2'],
    selection_policy: 'weighted_split',
    policy_params: { weights: [1, 0] },
  });
  await cluster.store.putApp({ ...base, name: 'exp3', linked_models: ['n1', 'n2'], selection_policy: 'exp3' });
  process.stdout.write(`${JSON.stringify({ port: cluster.queryPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

function wrk(url: string, connections: number, durationS: number): number {
  const out = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${durationS}s`, '-s', kLua, url], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out.stdout);
  if (m === null) throw new Error(`wrk failed: ${out.stderr || out.stdout}`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'duration-s': { type: 'string', default: '4' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '32' },
    },
  });
  const child = spawn(process.execPath, [process.argv[1]!, '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const rps: Record<string, number[]> = { single: [], default: [], split: [], exp3: [] };
  try {
    for (const a of kApps) wrk(`http://127.0.0.1:${port}/${a}/predict`, 8, 1); // warm-up
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const a of kApps)
        rps[a]!.push(wrk(`http://127.0.0.1:${port}/${a}/predict`, Number(values.connections), Number(values['duration-s'])));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const single = median(rps.single!);
  const result = Object.fromEntries(
    kApps.map((a) => [
      a,
      { rps: rps[a]!.map(Math.round), medianRps: Math.round(median(rps[a]!)), vsSingle: Number((median(rps[a]!) / single).toFixed(3)) },
    ]),
  );
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

if (process.argv.includes('--serve')) await serve();
else await main();
