// The paper's model-selection experiments (Clipper, NSDI '17, §5: Figs. 8 and 9), reproduced on a
// real cluster with real Node models (bench/models/selection_bench_models.mjs) through HTTP:
//
//   (a) Exp3 converges to the best of three classifiers, and re-converges when that model degrades
//       mid-stream (Fig. 8): traffic share per model and error rate per window.
//   (b) The Exp4 ensemble of three noisy regressors has an error ≤ the best single model's.
//   (c) Stragglers (Fig. 9): the most accurate Exp4 member is slowed past the SLO half-way; p99 stays
//       within the SLO (the answer combines the members that arrived) at a small accuracy cost.
//   (d) Costs: a selection decision on the query path (snapshot read + sample, and Exp4's combine), and
//       Exp4's latency against its slowest member.
//
//   npm run build && node dist/bench/selection_experiments.js [--steps 2000] [--out docs]
//
// Writes docs/selection_results.json and SVG plots docs/selection_fig8_exp3.svg,
// docs/selection_fig9_stragglers.svg; prints a summary. Deterministic models and a fixed selection
// seed: reruns give the same selections (latencies vary).

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { Cluster } from '../src/cluster.js';
import { kRepoRoot } from '../src/paths.js';
import type { ModelRecord } from '../src/state/records.js';
import { startAdminServer } from '../src/admin/admin_server.js';
import { AppSelection } from '../src/selection/app_selection.js';
import { combine } from '../src/selection/policies/combine.js';
import { newBucketHistogram } from '../src/lib/bucket_histogram.js';
import { newAppStats } from '../src/query/app_route.js';
import { parsePolicyConfig } from '../src/selection/policies/params.js';
import { createPolicy } from '../src/selection/policies/registry.js';
import { Prng } from '../src/lib/prng.js';
import { createSnapshotBuffer, SnapshotWriter } from '../src/selection/weights_snapshot.js';
import { linePlot } from '../tools/loadgen/svg.js';

const kModelsFile = path.join(kRepoRoot, 'bench', 'models', 'selection_bench_models.mjs');

interface BenchModels {
  truthClass(t: number): number;
  truthValue(t: number): number;
}

function model(name: string, fn: string): ModelRecord {
  return {
    model_name: name,
    model_version: '1',
    input_type: 'doubles',
    labels: [],
    container_name: 'bench',
    model_data_path: 'DEPRECATED',
    batch_size: -1,
    num_replicas: 1,
    container: { runtime: 'node', entry: kModelsFile, function: fn, options: { isolate: 'inline' } },
  };
}

const kModelFns = [
  ['cls0', 'cls0'],
  ['cls1', 'cls1'],
  ['cls2', 'cls2'],
  ['reg0', 'reg0'],
  ['reg1', 'reg1'],
  ['reg2', 'reg2'],
  ['d1', 'delay1'],
  ['d3', 'delay3'],
  ['d5', 'delay5'],
] as const;

/** The server process: a cluster with every bench model deployed; prints its ports. */
async function serve(): Promise<void> {
  const cluster = await Cluster.start({
    config: { queryPort: 0, adminPort: 0, batchingThreads: 1, selectionSeed: 2017, cacheBytesMax: 0 },
    startAdmin: startAdminServer,
  });
  for (const [name, fn] of kModelFns) {
    await cluster.store.putModel(model(name, fn));
    await cluster.waitForDeploy(name, '1');
    await cluster.store.setCurrentVersion(name, '1');
  }
  process.stdout.write(`${JSON.stringify({ queryPort: cluster.queryPort, adminPort: cluster.adminPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const round = (v: number, digits = 3): number => Number(v.toFixed(digits));

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { steps: { type: 'string', default: '2000' }, out: { type: 'string', default: 'docs' } } });
  const steps = Number(values.steps);
  const outDir = path.resolve(kRepoRoot, values.out!);
  const models = (await import(pathToFileURL(kModelsFile).href)) as BenchModels;

  // The cluster runs in its own process, so this client's work does not delay the server's timers.
  const child = spawn(process.execPath, [process.argv[1]!, '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<{ queryPort: number; adminPort: number }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line)));
    child.once('exit', (code) => reject(new Error(`the bench cluster exited with ${code}`)));
  });
  const pool = new Pool(`http://127.0.0.1:${ports.queryPort}`, { connections: 8, pipelining: 1 });
  const adminPool = new Pool(`http://127.0.0.1:${ports.adminPort}`, { connections: 1 });
  // The fields of the predict and update replies the experiments read (the admin calls' replies are unread).
  interface Reply {
    output: number;
    models: string[];
    default?: boolean;
    losses: number[];
  }
  const post = async (urlPath: string, body: unknown, on = pool): Promise<Reply> => {
    const r = await on.request({
      path: urlPath,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`${urlPath}: ${r.statusCode} ${text}`);
    try {
      return JSON.parse(text) as Reply;
    } catch {
      return {} as Reply;
    }
  };
  const cluster = {
    store: {
      putApp: async (a: { name: string; linked: string[]; policy: string; params: Record<string, unknown>; sloMicros: number }) => {
        await post(
          '/admin/add_app',
          {
            name: a.name,
            input_type: 'doubles',
            default_output: '-1',
            latency_slo_micros: a.sloMicros,
            selection_policy: a.policy,
            policy_params: a.params,
          },
          adminPool,
        );
        await post('/admin/add_model_links', { app_name: a.name, model_names: a.linked }, adminPool);
      },
    },
  };
  const app = (name: string, linked: string[], policy: string, params: Record<string, unknown>, sloMicros = 100_000) => ({
    name,
    linked,
    policy,
    params,
    sloMicros,
  });
  const results: Record<string, unknown> = { steps, machine: `${process.platform} ${process.arch}, node ${process.version}` };
  try {
    // (a) Exp3, Fig. 8
    await cluster.store.putApp(app('fig8', ['cls0', 'cls1', 'cls2'], 'exp3', { loss: 'zero_one', eta: 0.3, gamma: 0.05, share: 0.001 }));
    const windowSize = Math.max(50, Math.floor(steps / 40));
    const served: number[][] = [[], [], []];
    const errors: number[] = [];
    const win = { n: 0, err: 0, by: [0, 0, 0] };
    let totalErrors = 0;
    const names = ['cls0', 'cls1', 'cls2'];
    for (let t = 1; t <= steps; t++) {
      const phase = t > steps / 2 ? 1 : 0;
      const input = [t, phase];
      const p = await post('/fig8/predict', { input });
      const label = models.truthClass(t);
      const wrong = p.output !== label ? 1 : 0;
      win.n++;
      win.err += wrong;
      totalErrors += wrong;
      win.by[names.indexOf(p.models[0]!)]!++;
      await post('/fig8/update', { input, label });
      if (win.n === windowSize) {
        for (let i = 0; i < 3; i++) served[i]!.push(win.by[i]! / win.n);
        errors.push(win.err / win.n);
        win.n = 0;
        win.err = 0;
        win.by = [0, 0, 0];
      }
    }
    const xs = errors.map((_, i) => (i + 1) * windowSize);
    const lastQuarter = (arr: number[], from: number, to: number): number => {
      const part = arr.slice(Math.floor(from * arr.length), Math.floor(to * arr.length));
      return part.reduce((a, b) => a + b, 0) / part.length;
    };
    results.exp3 = {
      windowSize,
      totalErrorRate: round(totalErrors / steps),
      phase1: {
        bestModel: 'cls0 (10% errors)',
        trafficShareBestLastQuarter: round(lastQuarter(served[0]!, 0.3, 0.5)),
        errorRateLastQuarter: round(lastQuarter(errors, 0.3, 0.5)),
      },
      phase2: {
        bestModel: 'cls1 (25% errors; cls0 degraded to 60%)',
        trafficShareBestLastQuarter: round(lastQuarter(served[1]!, 0.8, 1)),
        errorRateLastQuarter: round(lastQuarter(errors, 0.8, 1)),
      },
    };
    const fig8 = linePlot({
      title: `Exp3 over 3 classifiers (cls0 degrades at step ${steps / 2})`,
      xLabel: 'feedback step',
      yLabel: 'share of window',
      series: [
        ...names.map((n, i) => ({ name: `traffic to ${n}`, points: xs.map((x, j) => [x, served[i]![j]!] as [number, number]) })),
        { name: 'error rate', points: xs.map((x, j) => [x, errors[j]!] as [number, number]) },
      ],
      width: 640,
    });
    writeFileSync(path.join(outDir, 'selection_fig8_exp3.svg'), fig8);

    // (b) Exp4 ensemble vs the best single model
    await cluster.store.putApp(app('ens', ['reg0', 'reg1', 'reg2'], 'exp4', { lossScale: 20, eta: 2, tolerance: 1 }));
    const ensErr: number[] = [];
    const memberErr: number[][] = [[], [], []];
    for (let t = 1; t <= steps; t++) {
      const input = [t, 0];
      const y = models.truthValue(t);
      const p = await post('/ens/predict', { input });
      ensErr.push(Math.abs(p.output - y));
      const fb = await post('/ens/update', { input, label: y });
      for (let i = 0; i < 3; i++) memberErr[i]!.push(fb.losses[i]! * 20);
    }
    const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    const memberMae = memberErr.map(mean);
    results.exp4 = {
      ensembleMae: round(mean(ensErr)),
      memberMae: memberMae.map((v) => round(v)),
      bestSingleMae: round(Math.min(...memberMae)),
      ensembleMaeSecondHalf: round(mean(ensErr.slice(steps / 2))),
    };

    // (c) Stragglers, Fig. 9: reg0 (most accurate) slowed to 50 ms in phase 1; SLO 20 ms
    await cluster.store.putApp(app('strag', ['reg0', 'reg1', 'reg2'], 'exp4', { tolerance: 1, lossScale: 20 }, 20_000));
    const phases: Array<{ latMs: number[]; err: number[]; contributors: number[]; defaults: number }> = [
      { latMs: [], err: [], contributors: [], defaults: 0 },
      { latMs: [], err: [], contributors: [], defaults: 0 },
    ];
    const n = Math.min(steps, 1000);
    const series: Array<[number, number]> = [];
    const concurrency = 4;
    for (let t = 1; t <= 2 * n; t += concurrency) {
      await Promise.all(
        Array.from({ length: concurrency }, async (_, k) => {
          const step = t + k;
          const phase = step > n ? 1 : 0;
          const started = performance.now();
          const p = await post('/strag/predict', { input: [step, phase] });
          const latMs = performance.now() - started;
          const ph = phases[phase]!;
          ph.latMs.push(latMs);
          if (p.default) ph.defaults++;
          else ph.err.push(Math.abs(p.output - models.truthValue(step)));
          ph.contributors.push(p.models.length);
          series.push([step, latMs]);
        }),
      );
    }
    const summary = phases.map((ph) => {
      const sorted = [...ph.latMs].sort((a, b) => a - b);
      return {
        p50Ms: round(quantile(sorted, 0.5)),
        p99Ms: round(quantile(sorted, 0.99)),
        maxMs: round(sorted[sorted.length - 1]!),
        mae: round(mean(ph.err)),
        meanContributors: round(mean(ph.contributors), 2),
        defaults: ph.defaults,
      };
    });
    results.stragglers = { sloMs: 20, slowedModel: 'reg0 (50 ms in phase 2)', concurrency, healthy: summary[0], straggler: summary[1] };
    series.sort((a, b) => a[0] - b[0]);
    const bucket = 20;
    const p99Series: Array<[number, number]> = [];
    for (let i = 0; i + bucket <= series.length; i += bucket) {
      const lat = series
        .slice(i, i + bucket)
        .map((s) => s[1])
        .sort((a, b) => a - b);
      p99Series.push([series[i + bucket - 1]![0], quantile(lat, 0.99)]);
    }
    writeFileSync(
      path.join(outDir, 'selection_fig9_stragglers.svg'),
      linePlot({
        title: `Exp4 over 3 regressors, SLO 20 ms: reg0 slowed to 50 ms at query ${n}`,
        xLabel: 'query',
        yLabel: 'latency ms (max of 20)',
        series: [
          { name: 'latency (max per 20 queries)', points: p99Series },
          {
            name: 'SLO',
            points: [
              [0, 20],
              [2 * n, 20],
            ],
          },
        ],
        width: 640,
      }),
    );

    // (d) Exp4 latency vs its slowest member: delay5 alone vs exp4 over delay1, delay3, delay5
    await cluster.store.putApp(app('one5', ['d5'], 'default', {}));
    await cluster.store.putApp(app('ens135', ['d1', 'd3', 'd5'], 'exp4', {}));
    const lat = async (appName: string): Promise<{ p50Ms: number; p99Ms: number }> => {
      const xsLat: number[] = [];
      for (let i = 0; i < 300; i++) {
        const started = performance.now();
        await post(`/${appName}/predict`, { input: [i, 0] });
        xsLat.push(performance.now() - started);
      }
      xsLat.sort((a, b) => a - b);
      return { p50Ms: round(quantile(xsLat, 0.5)), p99Ms: round(quantile(xsLat, 0.99)) };
    };
    const slowest = await lat('one5');
    const ens = await lat('ens135');
    results.exp4Latency = { slowestMemberAlone: slowest, exp4Over3: ens };
  } finally {
    await pool.close();
    await adminPool.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }

  results.decisionCost = decisionCost();
  writeFileSync(path.join(outDir, 'selection_results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

/** ns per selection decision on the query path, measured in-process (no HTTP). */
function decisionCost(): Record<string, number> {
  const make = (policy: string, k: number): AppSelection => {
    const config = parsePolicyConfig(policy, {}, k);
    const sab = createSnapshotBuffer(k);
    const p = createPolicy(config, k);
    new SnapshotWriter(sab).publish(p.snapshot(), p.mode);
    return new AppSelection({
      app: 'x',
      generation: 1,
      signature: '',
      config,
      mode: p.mode,
      models: Array.from({ length: k }, (_, i) => `m${i}`),
      sab,
      prng: new Prng(1),
      userEntriesMax: 10,
      memberStats: { ...newAppStats(), latencyUs: newBucketHistogram([]) },
      requestUser: () => undefined,
    });
  };
  const time = (fn: () => number): number => {
    let sink = 0;
    for (let i = 0; i < 100_000; i++) sink += fn();
    const n = 2_000_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += fn();
    const ns = Number(process.hrtime.bigint() - started) / n;
    if (sink === -1) process.stdout.write('');
    return round(ns, 1);
  };
  const exp3 = make('exp3', 3);
  const exp4 = make('exp4', 3);
  const dflt = make('default', 2);
  const outputs = [1.5, 2, 2.5];
  const options = { mode: 'auto' as const, tolerance: 0.1, confidenceMin: 0 };
  return {
    exp3PickNs: time(() => exp3.pick(null)),
    defaultPickNs: time(() => dflt.pick(null)),
    exp4WeightsAndCombineNs: time(() => {
      const r = combine(outputs, exp4.weights(null), options);
      return r.contributors.length;
    }),
  };
}

if (process.argv.includes('--serve')) await serve();
else await main();
