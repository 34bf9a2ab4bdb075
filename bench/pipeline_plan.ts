// Is the plan honest? `clipper plan` predicts a pipeline's p99 latency and throughput from a profile and a
// simulation; this runs the planned configuration for real under the SAME arrivals and compares.
//
//   npm run build && node dist/bench/pipeline_plan.js [--rate 60] [--slo-ms 500] [--threshold 0.3]
//       [--cost-scale 5] [--duration-s 20] [--runs 2] [--seed 1] [--replicas-max 6] [--burst-factor 3]
//       [--workloads poisson,bursty] [--profiles measured,known] [--profile FILE]
//       [--out bench/results/pipeline_plan.json]
//
// A cluster (local replica processes, admin API) runs in a child process, so the load driver (this
// process) and the server do not share a thread. It serves one pipeline app, featurize → cascade(fast,
// slow), whose models cost a known K × (a + b·n) ms per batch (test/fixtures/models/pipeline_cost_models.mjs,
// K = --cost-scale: the slow model K × (2 + 12 n) ms, so at the default rate it needs more than one
// replica); a share --threshold of queries falls through to the slow model. Per profile, per workload
// (Poisson, then bursty at the same mean rate):
//   1. `clipper plan APP --rate R --workload W --slo-micros S --seed S --duration-ms D --apply --json`
//      with the profile: `measured` profiles each model on a real replica (the first plan saves the
//      profile with --save-profile, the later ones reuse it with --profile), `known` gives the models'
//      costs by construction (no spread, the measured hop overheads) with --profile, which tells the
//      simulator's error from the profiler's; it searches and applies (batch sizes, replicas, the plan);
//   2. once the planned replicas are connected, the plan's own arrivals — arrivalTimesMs(plan.workload,
//      D, plan.seed), the very arrivals the simulator drew — are replayed open loop over loopback HTTP,
//      --runs times; latency from each query's intended send time, measured over [D/10, D) as the
//      simulator does;
//   3. (Poisson) the plan's baseline (the same replica count for every model, adaptive batching, the
//      fewest that meet the SLO in simulation) is applied and run the same way: the replicas the plan
//      saves, and whether the prediction holds there too.
// "predicted" is the simulator (src/planner/pipeline_sim.ts) on the configuration as run, with the
// plan's profile, arrivals and window: for the plan rows the plan's own prediction. Prints predicted vs
// measured p50/p99/throughput/SLO misses with ratios (measured / predicted), and the server's view of
// each model (batch sizes, batch latency, queue time) and stage (mean latency) over the window.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../src/paths.js';
import type { PipelinePlan } from '../src/pipeline_spec.js';
import { simulatePipeline } from '../src/planner/pipeline_sim.js';
import {
  interpolateLatencyUs,
  profileFromJson,
  profileToJson,
  type PipelineProfile,
  type PipelineProfileJson,
} from '../src/planner/profile.js';
import { kDefaultHopOverheadUs } from '../src/planner/profiler.js';
import { arrivalTimesMs } from '../src/planner/workload.js';
import {
  adminCall,
  applySettings,
  baselineSettings,
  type CostClusterSpec,
  costPipeline,
  type DriveOutcome,
  knownCostProfile,
  driveArrivals,
  kPipelineModels,
  type ModelSetting,
  pipelineInputs,
  planSettings,
  runClipper,
  serveCostCluster,
  startCostCluster,
  storedPlan,
  waitForReplicas,
} from './pipeline_plan_run.js';

const kApp = 'pp';
const kSampleCount = 600;

interface Predicted {
  p50Us: number;
  p99Us: number;
  throughputQps: number;
  sloMissRatio: number;
}

interface Row {
  /** Where the plan's profile came from: `clipper plan` measuring the replicas, or the models' known costs. */
  profileMode: string;
  workload: string;
  config: 'plan' | 'baseline';
  run: number;
  settings: ModelSetting[];
  replicas: number;
  /** The simulator on this configuration, the profile and exactly the arrivals and window driven. */
  predicted: Predicted | null;
  /** What the stored plan says (for the plan rows the same simulation, unless the plan used another duration). */
  planPredicted: Predicted | null;
  /** The simulator on the same configuration under kSpreadSeeds other draws of the workload: how much a prediction from one window varies. */
  spread: { p99MinUs: number; p99MedianUs: number; p99MaxUs: number; missRatioMedian: number };
  /** Diagnosis, not a prediction: the simulator re-run with the per-call overhead the server measured in this run. */
  serverHop: { hopUs: Record<string, number>; predicted: Predicted };
  /** The hop overhead per call in the plan's profile (µs). */
  profileHopUs: Record<string, number>;
  measured: DriveOutcome;
  loadAverage: number;
}

const ratio = (measured: number, predicted: number | undefined): string =>
  predicted === undefined || !(predicted > 0) ? '–' : (measured / predicted).toFixed(2);
const msText = (us: number | undefined): string => (us === undefined ? '–' : (us / 1000).toFixed(1));

function describe(r: Row): string {
  const m = r.measured;
  const p = r.predicted;
  return (
    `${r.profileMode} profile, ${r.workload} ${r.config} run ${r.run}: replicas ${r.replicas} ` +
    `[${r.settings.map((s) => `${s.model} b=${s.batch_size} r=${s.replicas}`).join(', ')}] ` +
    `offered ${m.offered} answered ${m.answered} (defaults ${m.defaults}, fallbacks ${m.fallbacks}, errors ${m.errors}) ` +
    `p50 ${msText(m.latencyUs.p50)} ms (pred ${msText(p?.p50Us)}) p99 ${msText(m.latencyUs.p99)} ms (pred ${msText(p?.p99Us)}, ` +
    `x${ratio(m.latencyUs.p99, p?.p99Us)}) throughput ${m.throughputQps.toFixed(1)}/s (pred ${p?.throughputQps.toFixed(1)}, ` +
    `x${ratio(m.throughputQps, p?.throughputQps)}) misses ${(100 * m.sloMissRatio).toFixed(2)}% (pred ${p === null ? '–' : (100 * p.sloMissRatio).toFixed(2)}%) ` +
    `lag99 ${msText(m.sendLagP99Us)} ms by ${JSON.stringify(m.answeredBy)} load ${r.loadAverage.toFixed(2)}` +
    (Object.keys(m.why).length === 0 ? '' : `\n  why: ${JSON.stringify(m.why)}; per second: ${m.missesBySecond.join(' ')}`) +
    `\n  server: ${JSON.stringify(m.models)} stages ${JSON.stringify(m.stages)}` +
    `\n  hop per call: profile ${JSON.stringify(r.profileHopUs)}, server ${JSON.stringify(r.serverHop.hopUs)} µs; ` +
    `simulated with the server's: p50 ${msText(r.serverHop.predicted.p50Us)} p99 ${msText(r.serverHop.predicted.p99Us)} ms, misses ${(100 * r.serverHop.predicted.sloMissRatio).toFixed(2)}%`
  );
}

function table(rows: readonly Row[]): string {
  const out = [
    '| profile | workload | config | run | replicas (featurize/fast/slow) | predicted p50 / p99 ms | p99 over 10 other seeds: min–median–max ms | measured p50 / p99 ms | p99 ratio | p99 simulated with the server hop (ratio) | predicted / measured throughput /s | ratio | SLO misses predicted / measured | load avg |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const m = r.measured;
    const p = r.predicted;
    out.push(
      `| ${r.profileMode} | ${r.workload} | ${r.config} | ${r.run} | ${r.replicas} (${r.settings.map((s) => s.replicas).join('/')}) | ` +
        `${msText(p?.p50Us)} / ${msText(p?.p99Us)} | ${msText(r.spread.p99MinUs)}–${msText(r.spread.p99MedianUs)}–${msText(r.spread.p99MaxUs)} | ${msText(m.latencyUs.p50)} / ${msText(m.latencyUs.p99)} | ${ratio(m.latencyUs.p99, p?.p99Us)} | ` +
        `${msText(r.serverHop.predicted.p99Us)} (${ratio(m.latencyUs.p99, r.serverHop.predicted.p99Us)}) | ` +
        `${p === null ? '–' : p.throughputQps.toFixed(1)} / ${m.throughputQps.toFixed(1)} | ${ratio(m.throughputQps, p?.throughputQps)} | ` +
        `${p === null ? '–' : `${(100 * p.sloMissRatio).toFixed(2)}%`} / ${(100 * m.sloMissRatio).toFixed(2)}% | ${r.loadAverage.toFixed(2)} |`,
    );
  }
  return out.join('\n');
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kSpreadSeeds = 10;

interface Options {
  rate: string;
  sloMs: number;
  threshold: number;
  durationMs: number;
  warmupMs: number;
  runs: number;
  seed: number;
  replicasMax: string;
  burstFactor: string;
  costScale: number;
}

const kUsage = `usage: node dist/bench/pipeline_plan.js [--rate 60] [--slo-ms 500] [--threshold 0.3]
    [--cost-scale 5] [--duration-s 20] [--runs 2] [--seed 1] [--replicas-max 6] [--burst-factor 3]
    [--workloads poisson,bursty] [--profiles measured,known] [--profile FILE]
    [--out bench/results/pipeline_plan.json]
Runs the configurations \`clipper plan\` plans for real and compares them with its predictions (see the header of bench/pipeline_plan.ts).
`;

function readOptions(): { o: Options; workloads: string[]; profiles: string[]; profile: string | undefined; out: string } {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      rate: { type: 'string', default: '60' },
      'slo-ms': { type: 'string', default: '500' },
      threshold: { type: 'string', default: '0.3' },
      'duration-s': { type: 'string', default: '20' },
      runs: { type: 'string', default: '2' },
      seed: { type: 'string', default: '1' },
      'replicas-max': { type: 'string', default: '6' },
      'burst-factor': { type: 'string', default: '3' },
      'cost-scale': { type: 'string', default: '5' },
      workloads: { type: 'string', default: 'poisson,bursty' },
      profiles: { type: 'string', default: 'measured,known' },
      profile: { type: 'string' },
      out: { type: 'string', default: path.join(kRepoRoot, 'bench', 'results', 'pipeline_plan.json') },
    },
  });
  if (values.help === true) {
    process.stdout.write(kUsage);
    process.exit(0);
  }
  const durationMs = Number(values['duration-s']) * 1000;
  const o: Options = {
    rate: values.rate!,
    sloMs: Number(values['slo-ms']),
    threshold: Number(values.threshold),
    durationMs,
    warmupMs: Math.round(durationMs / 10), // the planner's own warm-up (src/planner/search.ts)
    runs: Number(values.runs),
    seed: Number(values.seed),
    replicasMax: values['replicas-max']!,
    burstFactor: values['burst-factor']!,
    costScale: Number(values['cost-scale']),
  };
  return { o, workloads: values.workloads!.split(','), profiles: values.profiles!.split(','), profile: values.profile, out: values.out! };
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serveCostCluster(JSON.parse(process.argv[3]!) as CostClusterSpec);
  const { o, workloads, profiles, profile: givenProfile, out } = readOptions();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pipeline-plan-'));
  const samplesFile = path.join(tmp, 'samples.json');
  // As many samples as `clipper plan` draws by default (src/cli/plan_args.ts): the fall-through share's
  // standard error near 0.02.
  writeFileSync(samplesFile, JSON.stringify(pipelineInputs(kSampleCount, o.seed + 1000)));
  const measuredFile = givenProfile ?? path.join(tmp, 'measured_profile.json');
  const knownFile = path.join(tmp, 'known_profile.json');
  let haveMeasured = givenProfile !== undefined;
  const spec = costPipeline(o.threshold);
  // The models' cost multiplier (test/fixtures/models/pipeline_cost_models.mjs), for the serving replicas and the profiling ones.
  const env = { ...process.env, PIPELINE_COST_SCALE: String(o.costScale) };
  const server = await startCostCluster('pipeline_plan.js', { app: kApp, sloMs: o.sloMs, threshold: o.threshold }, { env });
  process.on('SIGINT', () => {
    void server.stop().then(() => process.exit(130));
  });
  const started = Date.now();
  const rows: Row[] = [];
  const plans: Array<{ profile: string; workload: string; plan: PipelinePlan; cliStdout: string; cliS: number }> = [];
  const profilesUsed: Record<string, unknown> = {};
  try {
    log(`cluster: query port ${server.queryPort}, admin port ${server.adminPort}`);
    const measure = async (m: {
      profile: PipelineProfile;
      profileMode: string;
      workload: string;
      config: Row['config'];
      plan: PipelinePlan;
      settings: ModelSetting[];
      planPredicted: Predicted;
    }) => {
      await waitForReplicas(server.queryPort, m.settings, 60_000);
      const config = { models: new Map(m.settings.map((s) => [s.model, { batchSize: s.batch_size, replicas: s.replicas }])) };
      const sim = simulatePipeline(spec, m.profile, config, m.plan.workload, o.sloMs * 1000, {
        seed: m.plan.seed,
        durationMs: o.durationMs,
        warmupMs: o.warmupMs,
      });
      const predicted = { p50Us: sim.p50Us, p99Us: sim.p99Us, throughputQps: sim.throughputQps, sloMissRatio: sim.sloMissRatio };
      const others = Array.from({ length: kSpreadSeeds }, (_, i) =>
        simulatePipeline(spec, m.profile, config, m.plan.workload, o.sloMs * 1000, {
          seed: m.plan.seed + 1 + i,
          durationMs: o.durationMs,
          warmupMs: o.warmupMs,
        }),
      );
      const p99s = others.map((x) => x.p99Us);
      const spread = {
        p99MinUs: Math.min(...p99s),
        p99MedianUs: median(p99s),
        p99MaxUs: Math.max(...p99s),
        missRatioMedian: median(others.map((x) => x.sloMissRatio)),
      };
      const arrivals = arrivalTimesMs(m.plan.workload, o.durationMs, m.plan.seed);
      const inputs = pipelineInputs(arrivals.length, o.seed);
      for (let run = 1; run <= o.runs; run++) {
        const measured = await driveArrivals({
          queryPort: server.queryPort,
          app: kApp,
          arrivalsMs: arrivals,
          warmupMs: o.warmupMs,
          durationMs: o.durationMs,
          sloMs: o.sloMs,
          inputs,
          models: kPipelineModels.map(([name]) => name),
          stages: spec.stages.map((st) => st.name),
        });
        const replicas = sum(m.settings.map((s) => s.replicas));
        const { profileMode, workload, config: configName, settings, planPredicted } = m;
        // Diagnosis: the same simulation with each model's hop overhead replaced by what the server saw per call
        // in this run (its batch round trip minus the profile's t(n) at the mean batch size).
        const serverHopUs = new Map<string, number>();
        for (const [name, w] of Object.entries(measured.models ?? {})) {
          const p = m.profile.models.get(name);
          if (p !== undefined && w.batches > 0)
            serverHopUs.set(name, Math.max(0, w.batchLatencyMsMean * 1000 - interpolateLatencyUs(p, w.meanBatch)));
        }
        const withServerHop = profileFromJson(profileToJson(m.profile));
        for (const [name, p] of withServerHop.models) p.hopOverheadUs = serverHopUs.get(name) ?? p.hopOverheadUs;
        const re = simulatePipeline(spec, withServerHop, config, m.plan.workload, o.sloMs * 1000, {
          seed: m.plan.seed,
          durationMs: o.durationMs,
          warmupMs: o.warmupMs,
        });
        const serverHop = {
          hopUs: Object.fromEntries([...serverHopUs].map(([k, v]) => [k, Math.round(v)])),
          predicted: { p50Us: re.p50Us, p99Us: re.p99Us, throughputQps: re.throughputQps, sloMissRatio: re.sloMissRatio },
        };
        const row: Row = {
          profileMode,
          workload,
          config: configName,
          run,
          settings,
          replicas,
          predicted,
          planPredicted,
          spread,
          serverHop,
          profileHopUs: Object.fromEntries([...m.profile.models].map(([k, p]) => [k, Math.round(p.hopOverheadUs)])),
          measured,
          loadAverage: os.loadavg()[0]!,
        };
        rows.push(row);
        log(describe(row));
      }
    };
    for (const profileMode of profiles) {
      for (const workload of workloads) {
        let profileArgs: string[];
        if (profileMode === 'measured')
          profileArgs = haveMeasured ? ['--profile', measuredFile] : ['--samples', samplesFile, '--save-profile', measuredFile];
        else {
          // Overheads (per call, HTTP edge) as measured when there is a measured profile, else the
          // profiler's documented default hop and no edge.
          const hops = new Map<string, number>();
          let edgeUs = 0;
          if (haveMeasured) {
            const measuredProfile = profileFromJson(JSON.parse(readFileSync(measuredFile, 'utf8')));
            for (const [name, p] of measuredProfile.models) hops.set(name, p.hopOverheadUs);
            edgeUs = measuredProfile.edgeOverheadUs ?? 0;
          } else for (const [name] of kPipelineModels) hops.set(name, kDefaultHopOverheadUs);
          writeFileSync(knownFile, JSON.stringify(knownCostProfile(o.costScale, o.threshold, hops, edgeUs)));
          profileArgs = ['--profile', knownFile];
        }
        const args = [
          ...['plan', kApp, '--admin-url', `http://127.0.0.1:${server.adminPort}`, '--query-url', `http://127.0.0.1:${server.queryPort}`],
          ...['--rate', o.rate, '--workload', workload, '--slo-micros', String(o.sloMs * 1000), '--seed', String(o.seed)],
          ...['--replicas-max', o.replicasMax, '--duration-ms', String(o.durationMs), '--apply', '--json', '--no-reactive', ...profileArgs],
          ...(workload === 'bursty' ? ['--burst-factor', o.burstFactor] : []),
        ];
        const t0 = Date.now();
        const cli = await runClipper(args, 600_000, env);
        const cliS = (Date.now() - t0) / 1000;
        if (cli.code !== 0) throw new Error(`clipper ${args.join(' ')} exited ${cli.code}: ${cli.stderr}`);
        log(`clipper ${args.join(' ')}: ${cliS.toFixed(1)} s`);
        haveMeasured ||= profileMode === 'measured';
        const printed = JSON.parse(cli.stdout) as { profile: PipelineProfileJson };
        profilesUsed[profileMode] = printed.profile;
        const profile = profileFromJson(printed.profile);
        let plan = await storedPlan(server.adminPort, kApp);
        if (plan === null) throw new Error('clipper plan --apply stored no plan on the app');
        if (plan.reactive) {
          // The reactive tuner (src/control/pipeline_tuner.ts) must not change replicas while the plan is measured.
          plan = { ...plan, reactive: false };
          await adminCall(server.adminPort, 'set_pipeline_plan', { name: kApp, plan });
        }
        plans.push({ profile: profileMode, workload, plan, cliStdout: cli.stdout, cliS });
        log(
          `plan: ${plan.models.map((x) => `${x.model} b=${x.batch_size} x${x.replicas}`).join(', ')}; predicted ${JSON.stringify(plan.predicted)}; baseline ${JSON.stringify(plan.baseline)}`,
        );
        const p = plan.predicted;
        const planPredicted = { p50Us: p.p50_micros, p99Us: p.p99_micros, throughputQps: p.throughput_qps, sloMissRatio: p.slo_miss_ratio };
        await measure({ profile, profileMode, workload, config: 'plan', plan, settings: planSettings(plan), planPredicted });
        if (workload === 'poisson' && plan.baseline !== undefined) {
          const b = plan.baseline;
          const settings = baselineSettings(plan);
          await applySettings(server.adminPort, settings);
          const basePredicted = { p50Us: Number.NaN, p99Us: b.p99_micros, throughputQps: Number.NaN, sloMissRatio: b.slo_miss_ratio };
          await measure({ profile, profileMode, workload, config: 'baseline', plan, settings, planPredicted: basePredicted });
        }
      }
    }
  } finally {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  const result = {
    command: process.argv.slice(2).join(' '),
    options: o,
    cpus: os.cpus().length,
    wallS: (Date.now() - started) / 1000,
    plans,
    profiles: profilesUsed,
    rows,
  };
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2));
  process.stdout.write(`${table(rows)}\n`);
  log(`wrote ${out} (${result.wallS.toFixed(0)} s)`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
