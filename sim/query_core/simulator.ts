// Deterministic simulation of the main-thread query core: the real QueryProcessor (deadlines, cache
// coalescing, cancel, shutdown) under a simulated clock, fed by seeded clients and served by
// simulated batching workers (sim_pool.ts) that shed, fail, answer late or never. Checked on every
// run, as each answer arrives and at the end:
//   - every query submitted is answered exactly once, or cancelled and then never answered;
//   - no answer comes after the query's deadline (simulated time), and an SLO default comes exactly
//     at it; a model's answer (or the cache's) is that model's output for that input;
//   - the core's counters and per-app stats add up (queries = answered + cancelled), and nothing is
//     left open (pending queries, cache entries, ring records) once the run has drained.
// A violated invariant throws CoreSimInvariantError, whose message says how to replay the run.

import { createPrng, type Prng } from '../../src/lib/prng.js';
import { inputTypeCode } from '../../src/input_types.js';
import type { Answer, AnswerExtra } from '../../src/query/answer.js';
import { QueryPipeline, type QueryRequest, type RequestSink } from '../../src/query/pipeline.js';
import type { AppRoute } from '../../src/query/app_route.js';
import { QueryProcessor } from '../../src/query/query_processor.js';
import { arrivalGaps } from '../arrivals.js';
import { SimClock } from '../sim_clock.js';
import { guardedClock } from './guarded_clock.js';
import { checkAnswerFields, checkTotals, type SimQuery, type SimTally } from './invariants.js';
import type { CoreSimConfig, SimApp } from './config.js';
import { SimBatchingPool, simInputKey, simOutputJson, type SimPoolCounts } from './sim_pool.js';

export type { CoreSimConfig, SimApp } from './config.js';

/** Answers come at most this late (ms): the float rounding of a timer's due time. */
export const kDeadlineSlackMs = 1e-9;

/** Every query's deadline has passed this long after the last arrival. */
const kDrainMsMax = 10_000;

export class CoreSimInvariantError extends Error {
  constructor(config: CoreSimConfig, nowMs: number, message: string) {
    super(
      `seed ${config.seed}, scenario ${config.name}, at ${nowMs} ms: ${message} ` +
        `(replay: node dist/sim/run_core.js --seed ${config.seed} --scenario ${config.name})`,
    );
    this.name = 'CoreSimInvariantError';
  }
}

export interface CoreSimResult extends SimTally {
  seed: number;
  scenario: string;
  pool: SimPoolCounts;
  cacheHits: number;
  cacheCoalesced: number;
  /** Queries that waited on an identical one, which failed, and then went to a worker themselves. */
  waitersDispatched: number;
}

/** Inputs of hot keys repeat (cache hits, coalescing); the others are unique. */
function makeInput(app: SimApp, key: number): number[] | string | Buffer {
  if (app.input === 'strings') return `input-${key}`;
  if (app.input === 'bytes') {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(key);
    return b;
  }
  return [key, key % 7, 3];
}

class CoreSimulation implements RequestSink {
  readonly #config: CoreSimConfig;
  readonly #clock = new SimClock(0);
  readonly #clientPrng: Prng;
  readonly #pool: SimBatchingPool;
  readonly #processor: QueryProcessor;
  readonly #routes: AppRoute[];
  readonly #extras: (AnswerExtra | null)[];
  readonly #queries: SimQuery[] = [];
  readonly #queryIds = new Set<number>();
  readonly #tally: SimTally = { submitted: 0, answered: 0, cancelled: 0, ok: 0, defaults: 0, shed: 0, byExplanation: {} };
  #closed = false;
  #uniqueKey = 1_000_000;
  /** Queries that waited on an identical one in flight when submitted. */
  readonly #waiters: SimQuery[] = [];
  #last: { appIndex: number; key: number } | null = null;
  /** Null: clients call the processor directly (one input per request). */
  readonly #pipeline: QueryPipeline | null;
  /** The request being submitted through the pipeline (its sink calls place its inputs). */
  #request: { appIndex: number; inputs: readonly (number[] | string | Buffer)[]; sloMs: number; queries: SimQuery[] } | null = null;

  constructor(config: CoreSimConfig) {
    this.#config = config;
    this.#clientPrng = createPrng(config.seed);
    this.#pool = new SimBatchingPool({
      models: config.models,
      ringRecordsMax: config.ringRecordsMax,
      faults: config.faults,
      clock: this.#clock,
      prng: createPrng(config.seed ^ 0x5bd1e995),
      fail: this.fail,
    });
    this.#processor = new QueryProcessor({
      pool: this.#pool,
      clock: guardedClock(this.#clock, this.fail),
      cacheBytesMax: config.cacheBytesMax,
    });
    this.#pool.connect(this.#processor.onReply);
    this.#routes = config.apps.map((app) => this.#route(app));
    this.#pipeline =
      config.requestInputsMax > 1
        ? new QueryPipeline({
            processor: this.#processor,
            routes: new Map(this.#routes.map((r) => [r.name, r])),
            hub: null,
            sloMicrosMax: Infinity,
          })
        : null;
    // An app whose answers carry extra fields (as model selection's do) must get them back unchanged.
    this.#extras = config.apps.map((app) => (app.model === null ? null : { models: [config.models[app.model]!.name] }));
  }

  readonly fail = (message: string): never => {
    throw new CoreSimInvariantError(this.#config, this.#clock.nowMs(), message);
  };

  #route(app: SimApp): AppRoute {
    const placement = app.model === null ? null : this.#pool.placement(app.model);
    return {
      name: app.name,
      stats: this.#processor.appStats(app.name),
      inputType: app.input,
      typeCode: inputTypeCode(app.input),
      defaultJson: JSON.stringify(`default of ${app.name}`),
      sloMs: app.sloMs,
      modelName: null,
      placement,
      versions: new Map(),
      overloadResponse: 'default_output',
      selection: null,
    };
  }

  run(): CoreSimResult {
    const config = this.#config;
    const gap = arrivalGaps(config.arrival, this.#clientPrng);
    const arrive = (): void => {
      const nowMs = this.#clock.nowMs();
      if (nowMs >= config.durationMs) return;
      this.#submitOne();
      this.#clock.setTimer(gap(nowMs), arrive);
    };
    this.#clock.setTimer(gap(0), arrive);
    if (config.closeAtMs !== undefined) this.#clock.setTimer(config.closeAtMs, () => this.#close());
    // Run until nothing is scheduled: arrivals stop at durationMs, every deadline is bounded.
    const horizonMs = config.durationMs + kDrainMsMax;
    while (this.#clock.pendingTimerCount > 0) {
      const nextMs = this.#clock.nextTimerMs();
      if (nextMs > horizonMs) this.fail(`a timer at ${nextMs} ms, long after every deadline`);
      this.#clock.advanceTo(nextMs);
    }
    this.#checkEnd();
    const cache = this.#processor.cache.stats();
    return {
      seed: config.seed,
      scenario: config.name,
      ...this.#tally,
      pool: { ...this.#pool.counts },
      cacheHits: cache.hitCount,
      cacheCoalesced: cache.coalescedCount,
      waitersDispatched: this.#waiters.filter((q) => this.#pool.wasWritten(q.token)).length,
    };
  }

  /** One client request: an app, an SLO (maybe not the app's), its input(s), maybe a cancel. */
  #submitOne(): void {
    const prng = this.#clientPrng;
    const config = this.#config;
    if (!(this.#last !== null && prng.next() < config.repeatLastShare)) {
      this.#last = { appIndex: prng.nextInt(config.apps.length), key: this.#freshKey() };
    }
    const { appIndex, key } = this.#last;
    const app = config.apps[appIndex]!;
    const sloMs = prng.next() < config.offSloShare ? app.sloMs * (0.25 + 1.5 * prng.next()) : app.sloMs;
    if (this.#pipeline !== null) return this.#submitRequest(this.#pipeline, appIndex, sloMs);
    const route = this.#routes[appIndex]!;
    const input = makeInput(app, key);
    const q = this.#newQuery(appIndex, input, sloMs, this.#extras[appIndex]!);
    q.token = this.#processor.submit(route, route.placement, input, sloMs, 0, this, q.index, q.extra);
    this.#checkSubmitted(q);
    if (q.token >= 0 && prng.next() < config.cancelShare) {
      this.#clock.setTimer(prng.next() * config.cancelDelayMsMax, () => this.#cancel([q], [q.token]));
    }
  }

  /** A hot input (cache hits, coalescing) or a new one. */
  #freshKey(): number {
    const prng = this.#clientPrng;
    return prng.next() < this.#config.repeatShare ? prng.nextInt(this.#config.hotInputCount) : this.#uniqueKey++;
  }

  #newQuery(appIndex: number, input: number[] | string | Buffer, sloMs: number, extra: AnswerExtra | null): SimQuery {
    const app = this.#config.apps[appIndex]!;
    const nowMs = this.#clock.nowMs();
    const q: SimQuery = {
      index: this.#queries.length,
      app,
      defaultJson: this.#routes[appIndex]!.defaultJson,
      expectedJson: app.model === null ? null : simOutputJson(this.#config.models[app.model]!.name, simInputKey(input)),
      extra,
      submitMs: nowMs,
      deadlineMs: nowMs + sloMs,
      token: -1,
      state: 'open',
      answer: null,
    };
    this.#queries.push(q);
    this.#tally.submitted++;
    return q;
  }

  /** submit() returns -1 exactly when it answered at once (the simulated pool never replies at once). */
  #checkSubmitted(q: SimQuery): void {
    if (q.token < 0 && q.state !== 'answered') this.fail(`query ${q.index}: submit returned -1 but did not answer it`);
    if (q.token >= 0 && q.state !== 'open') this.fail(`query ${q.index}: answered at submit but given token ${q.token}`);
    if (q.token >= 0 && !this.#pool.wasWritten(q.token)) this.#waiters.push(q);
  }

  /** A request of 1..requestInputsMax inputs through the query pipeline (as a codec sends it). */
  #submitRequest(pipeline: QueryPipeline, appIndex: number, sloMs: number): void {
    const prng = this.#clientPrng;
    const config = this.#config;
    const app = config.apps[appIndex]!;
    const keys = [this.#last!.key];
    const count = 1 + prng.nextInt(config.requestInputsMax);
    // Identical inputs within one request coalesce too.
    while (keys.length < count) keys.push(prng.next() < config.repeatLastShare ? keys.at(-1)! : this.#freshKey());
    const inputs = keys.map((key) => makeInput(app, key));
    const sloMicros = sloMs === app.sloMs ? null : sloMs * 1000;
    const request: QueryRequest = { inputs, version: null, sloMicros, uid: null };
    const tokens: number[] = [];
    const r = { appIndex, inputs, sloMs: sloMicros === null ? sloMs : sloMicros / 1000, queries: [] as SimQuery[] };
    this.#request = r;
    const n = pipeline.predict(this.#routes[appIndex]!, request, this, tokens);
    this.#request = null;
    if (n !== count || r.queries.length !== count) this.fail(`a request of ${count} inputs made ${n} / ${r.queries.length} queries`);
    if (tokens.length > 0 && prng.next() < config.cancelShare) {
      this.#clock.setTimer(prng.next() * config.cancelDelayMsMax, () => this.#cancel(r.queries, tokens));
    }
  }

  begin(count: number): void {
    if (this.#request === null || count !== this.#request.inputs.length) this.fail(`begin(${count}) outside a request of that size`);
  }

  indexFor(i: number): number {
    const r = this.#request ?? this.fail('indexFor() outside a request');
    const q = this.#newQuery(r.appIndex, r.inputs[i] ?? this.fail(`indexFor(${i}): no such input`), r.sloMs, null);
    r.queries.push(q);
    return q.index;
  }

  submitted(index: number, tokens: readonly number[], from: number): void {
    const q = this.#queries[index] ?? this.fail(`submitted(${index}): no such query`);
    if (tokens.length - from > 1) this.fail(`query ${index}: ${tokens.length - from} tokens for one input without selection`);
    q.token = tokens[from] ?? -1;
    this.#checkSubmitted(q);
  }

  /** The client goes away: its open queries are cancelled (an answered one stays answered). */
  #cancel(queries: readonly SimQuery[], tokens: readonly number[]): void {
    for (const q of queries) {
      if (q.state !== 'open') continue;
      q.state = 'cancelled';
      this.#tally.cancelled++;
    }
    if (this.#pipeline !== null) this.#pipeline.cancel(tokens);
    else this.#processor.cancel(tokens);
  }

  #close(): void {
    this.#closed = true;
    this.#processor.close();
    const open = this.#queries.find((q) => q.state === 'open');
    if (open !== undefined) this.fail(`query ${open.index} still open after close()`);
    if (this.#processor.pendingCount !== 0) this.fail(`${this.#processor.pendingCount} queries pending after close()`);
  }

  onAnswer(index: number, answer: Answer): void {
    const nowMs = this.#clock.nowMs();
    const q = this.#queries[index] ?? this.fail(`answer for unknown index ${index}`);
    if (q.state === 'answered') this.fail(`query ${index} answered twice (${answer.explanation ?? answer.outputJson})`);
    if (q.state === 'cancelled') this.fail(`query ${index} answered after it was cancelled (${answer.explanation ?? answer.outputJson})`);
    if (nowMs > q.deadlineMs + kDeadlineSlackMs) {
      this.fail(`query ${index} answered ${nowMs - q.deadlineMs} ms after its deadline (${answer.explanation ?? answer.outputJson})`);
    }
    if (this.#queryIds.has(answer.queryId)) this.fail(`query id ${answer.queryId} answered twice`);
    this.#queryIds.add(answer.queryId);
    q.state = 'answered';
    q.answer = answer;
    checkAnswerFields(q, answer, nowMs, { closed: this.#closed, slackMs: kDeadlineSlackMs, fail: this.fail });
    const t = this.#tally;
    t.answered++;
    if (answer.isDefault) {
      t.defaults++;
      if (answer.shed) t.shed++;
      const why = answer.explanation ?? '';
      t.byExplanation[why] = (t.byExplanation[why] ?? 0) + 1;
    } else {
      t.ok++;
    }
  }

  #checkEnd(): void {
    const open = this.#queries.find((q) => q.state === 'open');
    if (open !== undefined) this.fail(`query ${open.index} (token ${open.token}) was never answered`);
    checkTotals(this.#processor, this.#queries, this.#tally, { closed: this.#closed, fail: this.fail });
    if (this.#pool.queuedCount !== 0) this.fail(`${this.#pool.queuedCount} records left in the simulated workers`);
  }
}

export function runCoreSimulation(config: CoreSimConfig): CoreSimResult {
  return new CoreSimulation(config).run();
}
