// Seeded simulation of pipeline apps in the query core: the real executor (src/query/stage_run.ts)
// and QueryProcessor under a simulated clock, served by the simulated workers of the query-core
// simulator (sim_pool.ts: shed, model errors, late and dropped replies), with clients that cancel
// some queries, optionally a shutdown mid-run, and optionally a lagging event loop (timers and
// replies taken late). Checked on every answer and at the end:
//   - every query is answered exactly once, or cancelled and then never answered;
//   - no answer comes after the query's deadline (simulated time; plus the lag, if any);
//   - an answer without a fallback is exactly what its models compute; a best-so-far answer names
//     its stage and is one its models could give; a default names the stage that failed;
//   - nothing is left open: no run, no sub-query, no record in the simulated workers;
//   - no run breaks the executor's invariants (PipelineRuns' onBroken fails the run).
// Three apps on strings: a chain (model fast, then a cascade fast → slow that always falls through:
// the simulated outputs are strings, of confidence 0; its best so far is the cascade's first level;
// a first level that fails asks slow all the same), an ensemble of fast and slow (a vote: the lowest
// member that answered wins), and a fan-in with fallback 'default' (fast, and an ensemble of fast
// and slow on the same input: one run's identical calls coalesce; any failure answers the default
// at once and cancels the calls still open, a shutdown included).

import { inputTypeCode } from '../../src/input_types.js';
import type { Clock } from '../../src/lib/clock.js';
import { createPrng, type Prng } from '../../src/lib/prng.js';
import type { PipelineSpec } from '../../src/pipeline_spec.js';
import type { Answer, QuerySink } from '../../src/query/answer.js';
import type { AppRoute } from '../../src/query/app_route.js';
import { PipelineRuns } from '../../src/query/pipeline_runs.js';
import { QueryProcessor } from '../../src/query/query_processor.js';
import { compilePipeline } from '../../src/query/stage_graph.js';
import { PipelineStatsKeeper } from '../../src/query/stage_stats.js';
import { arrivalGaps, type ArrivalSpec } from '../arrivals.js';
import { SimClock } from '../sim_clock.js';
import { guardedClock } from './guarded_clock.js';
import { SimBatchingPool, simInputKey, simOutputJson, type SimFaults, type SimModelSpec } from './sim_pool.js';

export interface PipelineSimConfig {
  name: string;
  seed: number;
  durationMs: number;
  arrival: ArrivalSpec;
  faults: SimFaults;
  ringRecordsMax: number;
  cancelShare: number;
  cancelDelayMsMax: number;
  /** The core shuts down at this time; later queries get the shutdown default at once. */
  closeAtMs?: number;
  /** A busy event loop: timers (the deadline watch's, the simulated workers' replies) fire up to
   * this late (ms), a share `timerLagShare` of them, so a reply may be taken after its run's end.
   * Answers may then come that much after their deadline. */
  timerLagMsMax?: number;
  timerLagShare?: number;
}

export interface PipelineSimResult {
  submitted: number;
  answered: number;
  cancelled: number;
  ok: number;
  fallbacks: number;
  defaults: number;
  /** The chain's cascade: queries whose first level gave no answer and asked the second. */
  failovers: number;
}

const kModels: SimModelSpec[] = [
  { name: 'fast', baseMs: 1, perItemMs: 0.02, noiseFraction: 0.1, batchMax: 32 },
  { name: 'slow', baseMs: 4, perItemMs: 0.1, noiseFraction: 0.3, batchMax: 16 },
];

const kChain: PipelineSpec = {
  output: 'casc',
  stages: [
    { name: 'pre', kind: 'model', model: 'fast', output_type: 'strings' },
    { name: 'casc', kind: 'cascade', input: 'pre', models: ['fast', 'slow'], threshold: 0.5 },
  ],
};
const kEnsemble: PipelineSpec = { output: 'ens', stages: [{ name: 'ens', kind: 'ensemble', models: ['fast', 'slow'], combine: 'vote' }] };
const kFanIn: PipelineSpec = {
  output: 'out',
  fallback: 'default',
  stages: [
    { name: 'one', kind: 'model', model: 'fast', output_type: 'strings' },
    { name: 'two', kind: 'ensemble', models: ['fast', 'slow'], combine: 'vote', output_type: 'strings' },
    { name: 'out', kind: 'combine', inputs: ['one', 'two'], combine: 'vote' },
  ],
};

/** What a simulated model answers for a string input, parsed. */
const out = (model: string, input: string): string => JSON.parse(simOutputJson(model, simInputKey(input))) as string;

interface Query {
  app: 0 | 1 | 2;
  input: string;
  deadlineMs: number;
  state: 'open' | 'answered' | 'cancelled';
}

export class PipelineSimError extends Error {
  override name = 'PipelineSimError';
}

class PipelineSimulation implements QuerySink {
  readonly #config: PipelineSimConfig;
  readonly #clock = new SimClock(0);
  readonly #prng: Prng;
  readonly #processor: QueryProcessor;
  readonly #pool: SimBatchingPool;
  readonly #routes: AppRoute[];
  readonly #runs = new PipelineRuns({ onBroken: (why) => this.fail(`a run broke: ${why}`) });
  readonly #queries: Query[] = [];
  readonly #result: PipelineSimResult = { submitted: 0, answered: 0, cancelled: 0, ok: 0, fallbacks: 0, defaults: 0, failovers: 0 };
  #closed = false;

  constructor(config: PipelineSimConfig) {
    this.#config = config;
    this.#prng = createPrng(config.seed);
    // One event loop: the workers' replies are taken late too (the simulated workers run on its timers).
    const clock = laggingClock(guardedClock(this.#clock, this.fail), createPrng(config.seed ^ 0x5bd1e995), config);
    this.#pool = new SimBatchingPool({
      models: kModels,
      ringRecordsMax: config.ringRecordsMax,
      faults: config.faults,
      clock,
      prng: createPrng(config.seed ^ 0x2545f491),
      fail: this.fail,
    });
    this.#processor = new QueryProcessor({ pool: this.#pool, clock, cacheBytesMax: 1 << 20 });
    this.#pool.connect(this.#processor.onReply);
    const keeper = new PipelineStatsKeeper();
    this.#routes = [kChain, kEnsemble, kFanIn].map((spec, i) => {
      const route: AppRoute = {
        name: `app${i}`,
        stats: this.#processor.appStats(`app${i}`),
        inputType: 'strings',
        typeCode: inputTypeCode('strings'),
        defaultJson: '"default"',
        sloMs: 25,
        modelName: null,
        placement: null,
        versions: new Map(),
        overloadResponse: 'default_output',
      };
      const resolve = (m: string) => ({ placement: this.#pool.placement(m === 'fast' ? 0 : 1), inputType: 'strings' as const });
      return { ...route, pipeline: compilePipeline(spec, resolve, null, route, keeper) };
    });
  }

  readonly fail = (message: string): never => {
    throw new PipelineSimError(`seed ${this.#config.seed}, scenario ${this.#config.name}, at ${this.#clock.nowMs()} ms: ${message}`);
  };

  run(): PipelineSimResult {
    const config = this.#config;
    const gap = arrivalGaps(config.arrival, this.#prng);
    const arrive = (): void => {
      if (this.#clock.nowMs() >= config.durationMs) return;
      this.#submit();
      this.#clock.setTimer(gap(this.#clock.nowMs()), arrive);
    };
    this.#clock.setTimer(gap(0), arrive);
    if (config.closeAtMs !== undefined) {
      this.#clock.setTimer(config.closeAtMs, () => {
        this.#closed = true;
        this.#processor.close();
      });
    }
    while (this.#clock.pendingTimerCount > 0) this.#clock.advanceTo(this.#clock.nextTimerMs());
    this.#checkEnd();
    return this.#result;
  }

  #submit(): void {
    const prng = this.#prng;
    const app = prng.nextInt(3) as 0 | 1 | 2;
    // A few hot inputs: cache hits and coalescing inside and across runs.
    const input = `in-${prng.next() < 0.3 ? prng.nextInt(20) : 100 + this.#queries.length}`;
    const route = this.#routes[app]!;
    const index = this.#queries.length;
    this.#queries.push({ app, input, deadlineMs: this.#clock.nowMs() + route.sloMs, state: 'open' });
    this.#result.submitted++;
    const token = this.#runs.start(this.#processor, route, route.pipeline!, input, route.sloMs, 0, this, index);
    if (token >= 0 !== (this.#queries[index]!.state === 'open'))
      this.fail(`query ${index}: token ${token} but state ${this.#queries[index]!.state}`);
    if (token >= 0 && prng.next() < this.#config.cancelShare) {
      this.#clock.setTimer(prng.next() * this.#config.cancelDelayMsMax, () => {
        const q = this.#queries[index]!;
        if (q.state !== 'open') return;
        q.state = 'cancelled';
        this.#result.cancelled++;
        this.#runs.cancel([token]);
      });
    }
  }

  onAnswer(index: number, answer: Answer): void {
    const q = this.#queries[index] ?? this.fail(`an answer for unknown query ${index}`);
    if (q.state !== 'open') this.fail(`query ${index} answered while ${q.state}`);
    q.state = 'answered';
    this.#result.answered++;
    const nowMs = this.#clock.nowMs();
    if (nowMs > q.deadlineMs + (this.#config.timerLagMsMax ?? 0))
      this.fail(`query ${index} answered ${nowMs - q.deadlineMs} ms after its deadline`);
    if (answer.isDefault) {
      this.#result.defaults++;
      if (answer.outputJson !== '"default"') this.fail(`query ${index}: default output ${answer.outputJson}`);
      if (!/^pipeline stage '(pre|casc|ens|one|two)': /.test(answer.explanation ?? ''))
        this.fail(`query ${index}: explanation ${answer.explanation}`);
      return;
    }
    const output = JSON.parse(answer.outputJson) as string;
    const fallback = answer.extra?.fallback;
    if (fallback === undefined) {
      this.#result.ok++;
      // The fan-in's vote: 'one' and the ensemble's lowest member (fast) agree.
      const expected = q.app === 0 ? out('slow', out('fast', q.input)) : out('fast', q.input);
      if (output !== expected) this.fail(`query ${index}: output ${output}, expected ${expected}`);
      return;
    }
    this.#result.fallbacks++;
    if (q.app === 2) this.fail(`query ${index}: a fallback (${fallback}) with fallback 'default'`);
    if (!fallback.startsWith(q.app === 0 ? "stage 'casc': " : "stage 'ens': ")) this.fail(`query ${index}: fallback ${fallback}`);
    // The chain's best so far is the cascade's first level (the second failed); the ensemble's, a member's answer.
    const ok =
      q.app === 0 ? output === out('fast', out('fast', q.input)) : output === out('fast', q.input) || output === out('slow', q.input);
    if (!ok) this.fail(`query ${index}: best-so-far output ${output} is none its models give`);
  }

  #checkEnd(): void {
    const open = this.#queries.findIndex((q) => q.state === 'open');
    if (open >= 0) this.fail(`query ${open} was never answered`);
    if (this.#runs.openCount !== 0) this.fail(`${this.#runs.openCount} runs still open`);
    if (this.#processor.pendingCount !== 0) this.fail(`${this.#processor.pendingCount} sub-queries still pending`);
    if (this.#pool.queuedCount !== 0) this.fail(`${this.#pool.queuedCount} records left in the simulated workers`);
    const c = this.#processor.counters;
    if (c.queries !== c.answered + c.cancelled) this.fail(`sub-queries ${c.queries} != answered ${c.answered} + cancelled ${c.cancelled}`);
    const r = this.#result;
    if (r.answered + r.cancelled !== r.submitted) this.fail(`answered ${r.answered} + cancelled ${r.cancelled} != ${r.submitted}`);
    const stats = this.#routes.reduce((n, route) => n + route.stats.queries, 0);
    if (stats !== r.answered) this.fail(`the apps counted ${stats} queries, ${r.answered} were answered`);
    if (this.#closed && r.answered === 0) this.fail('nothing answered');
    const casc = this.#routes[0]!.pipeline!.stats.stages.find((st) => st.name === 'casc')!;
    r.failovers = casc.failovers![0]!;
  }
}

/** `clock` whose timers fire late, some of them (a busy event loop). */
function laggingClock(clock: Clock, prng: Prng, config: PipelineSimConfig): Clock {
  const lagMsMax = config.timerLagMsMax ?? 0;
  const share = config.timerLagShare ?? 0;
  if (lagMsMax === 0) return clock;
  return {
    nowMs: () => clock.nowMs(),
    setTimer: (delayMs, fn) => clock.setTimer(delayMs + (prng.next() < share ? prng.next() * lagMsMax : 0), fn),
    clearTimer: (handle) => clock.clearTimer(handle),
  };
}

export function runPipelineSimulation(config: PipelineSimConfig): PipelineSimResult {
  return new PipelineSimulation(config).run();
}

export const kPipelineSimScenarios: Record<string, (seed: number) => PipelineSimConfig> = {
  /** Healthy workers at a light load: mostly exact answers. */
  steady: (seed) => ({
    name: 'steady',
    seed,
    durationMs: 1000,
    arrival: { kind: 'poisson', ratePerMs: 1 },
    faults: { modelErrorShare: 0, replicaFailedShare: 0, lateShare: 0, dropShare: 0 },
    ringRecordsMax: 256,
    cancelShare: 0.05,
    cancelDelayMsMax: 10,
  }),
  /** Failing, late and dropped replies, an overloaded slow model, many cancels, and a shutdown. */
  faults: (seed) => ({
    name: 'faults',
    seed,
    durationMs: 1000,
    arrival: { kind: 'bursty', ratePerMs: 3, burstFactor: 3, onMeanMs: 20, offMeanMs: 40 },
    faults: { modelErrorShare: 0.05, replicaFailedShare: 0.02, lateShare: 0.05, dropShare: 0.05 },
    ringRecordsMax: 64,
    cancelShare: 0.2,
    cancelDelayMsMax: 8,
    closeAtMs: 900,
  }),
  /** A busy event loop: timers fire late and replies come late, so calls find no time left. */
  lagging: (seed) => ({
    name: 'lagging',
    seed,
    durationMs: 1000,
    arrival: { kind: 'poisson', ratePerMs: 2 },
    faults: { modelErrorShare: 0.02, replicaFailedShare: 0, lateShare: 0.3, dropShare: 0.02 },
    ringRecordsMax: 128,
    cancelShare: 0.1,
    cancelDelayMsMax: 10,
    timerLagMsMax: 20,
    timerLagShare: 0.5,
  }),
};
