// The main thread's query bookkeeping: every query in flight, its deadline, and its answer.
//
// Pure: time comes from the injected Clock and the batching workers are behind BatchingPort, so
// unit tests and the simulator drive it with fakes. A query is answered through its sink exactly
// once: from the cache, by a worker's reply, with the default output at once (no model, overload,
// shutdown), or at its deadline at the latest (DeadlineWatch).

import assert from 'node:assert/strict';
import { ReplyStatus, type DefaultReason } from '../ipc/records.js';
import type { Clock } from '../lib/clock.js';
import type { InputTypeCode, PackedNumbers } from '../input_types.js';
import { kPriorityMax, type Placement } from '../batching/protocol.js';
import type { Answer, AnswerExtra, QuerySink } from './answer.js';
import { countDefault, DefaultKind, newAppStats, observeLatency, type AppRoute, type AppStats } from './app_route.js';
import { DeadlineWatch, type Watched } from './deadline_watch.js';
import { assertInputBytesFit } from './input_fit.js';
import {
  defaultKindOf,
  explainDefault,
  isShed,
  kExplainNoModel,
  kExplainQueueFull,
  kExplainShutdown,
  kExplainSlo,
} from './explanations.js';
import type { BatchingPort } from './ports.js';
import { CacheResult, QueryCache } from './query_cache.js';
import { TokenCounter } from './token_counter.js';

/** number[] or PackedNumbers (input_types.ts) for numeric types, string for strings, Buffer for bytes. */
export type QueryInput = number[] | PackedNumbers | string | Buffer;

export interface QueryProcessorOptions {
  /** This frontend's end of the batching workers' rings (batching/ring_port.ts's RingPort), or a fake. */
  pool: BatchingPort;
  /** The time scale of deadlines: the batching workers' clock (systemClock in a cluster). */
  clock: Clock;
  /** Prediction cache size; 0 turns the cache off. */
  cacheBytesMax: number;
  /**
   * This frontend's index (0 .. kFrontendsMax − 1, ipc/records.ts): its tokens carry it in their top
   * bits, so a batching worker answers on this frontend's reply ring. Default 0.
   */
  frontendIndex?: number;
  /** Frontends in all (default 1): query ids are frontendIndex + k · frontendCount, unique across them. */
  frontendCount?: number;
  /** Tests: a token counter that wraps sooner (2^k − 1; default kTokenCounterMask). */
  tokenCounterMask?: number;
}

/** An open query; the deadline watch keeps its links in it (Watched). */
interface Pending extends Watched<Pending> {
  token: number;
  /** True once written to a worker's ring; false while it waits on an identical query (cache). */
  inRing: boolean;
  queryId: number;
  startMs: number;
  deadlineMs: number;
  /** 0 (normal) .. kPriorityMax, larger = more urgent: the worker batches it before less urgent ones. */
  priority: number;
  index: number;
  sink: QuerySink;
  route: AppRoute;
  placement: Placement;
  input: QueryInput;
  /** Extra answer fields on success (selection: the model that served it). */
  extra: AnswerExtra | null;
  /** The cache entry this query computes (others may wait on it), or -1. */
  cacheHandle: number;
  /** Answered or cancelled: never answered (again). */
  done: boolean;
}

/** queries = answered + cancelled + pendingCount at all times. */
export interface QueryCounters {
  queries: number;
  answered: number;
  defaults: number;
  sloMisses: number;
  /** Forgotten by cancel() (their clients went away): never answered. */
  cancelled: number;
}

function makeAnswer(
  queryId: number,
  outputJson: string,
  isDefault: boolean,
  explanation: string | null,
  shed: boolean,
  extra: AnswerExtra | null,
): Answer {
  return { queryId, outputJson, isDefault, explanation, shed, extra };
}

export class QueryProcessor {
  readonly clock: Clock;
  readonly cache: QueryCache;
  readonly counters: QueryCounters = { queries: 0, answered: 0, defaults: 0, sloMisses: 0, cancelled: 0 };
  readonly #pool: BatchingPort;
  readonly #pending = new Map<number, Pending>();
  readonly #watch: DeadlineWatch<Pending>;
  readonly #appStats = new Map<string, AppStats>();
  #closed = false;
  readonly #tokens: TokenCounter;
  #nextQueryId = 0;
  readonly #queryIdBase: number;
  readonly #queryIdStep: number;

  constructor(options: QueryProcessorOptions) {
    this.#tokens = new TokenCounter(options.frontendIndex ?? 0, options.tokenCounterMask);
    this.#queryIdBase = options.frontendIndex ?? 0;
    this.#queryIdStep = options.frontendCount ?? 1;
    this.#pool = options.pool;
    this.clock = options.clock;
    this.cache = new QueryCache(options.cacheBytesMax);
    this.#watch = new DeadlineWatch<Pending>(options.clock, (p, nowMs) => this.#answerAtDeadline(p, nowMs));
  }

  /** Queries in flight (in a worker's ring or waiting on an identical query). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  nextQueryId(): number {
    return this.#queryIdBase + this.#queryIdStep * this.#nextQueryId++;
  }

  /** Refuse (413) an input larger than one ring record can carry (input_fit.ts). */
  assertInputsFit(inputs: readonly QueryInput[], type: InputTypeCode): void {
    assertInputBytesFit(inputs, type, this.#pool.inputBytesMax);
  }

  /** The stats object of an app (created on first use; survives route rebuilds). */
  appStats(name: string): AppStats {
    let stats = this.#appStats.get(name);
    if (stats === undefined) {
      stats = newAppStats();
      this.#appStats.set(name, stats);
    }
    return stats;
  }

  allAppStats(): ReadonlyMap<string, AppStats> {
    return this.#appStats;
  }

  forgetApp(name: string): void {
    this.#appStats.delete(name);
  }

  /** A fresh stats object that is not an app's (for sub-queries made on an app's behalf). */
  detachedStats(): AppStats {
    return newAppStats();
  }

  /** Count one answer that a combining sink made from sub-queries, in the app's stats (kind -1: not the default). */
  countCombined(route: AppRoute, latencyMs: number, kind: DefaultKind | -1, shed: boolean): void {
    route.stats.queries++;
    if (kind >= 0) countDefault(route.stats, kind as DefaultKind, shed);
    observeLatency(route.stats, latencyMs);
  }

  /**
   * Start one query. It is answered through `sink.onAnswer(index, …)` exactly once: from the cache,
   * by the model, or with the default output (no model, overload, model error) at once, or at its
   * deadline at the latest. `priority` (0 normal .. kPriorityMax, larger = more urgent) orders it
   * among the queries its worker has queued. An identical query in flight (cache) answers it whatever
   * the priorities: the waiter does not make the one it waits on more urgent. `extra` rides on a
   * model's (or the cache's) answer. Its deadline is `arrivalMs` (its request's arrival; default now) + sloMs:
   * one already past (it waited in an overloaded frontend, or its body was slow) gets the default at
   * once. Returns the ring token (for cancel()), or -1 when the query is already answered.
   */
  submit(
    route: AppRoute,
    placement: Placement | null,
    input: QueryInput,
    sloMs: number,
    priority: number,
    sink: QuerySink,
    index: number,
    extra: AnswerExtra | null = null,
    arrivalMs?: number,
  ): number {
    // A codec validates the priority (QueryPipeline); anything else is a caller's bug.
    if (!(priority >= 0 && priority <= kPriorityMax && (priority | 0) === priority)) assert.fail(`priority ${priority} out of range`);
    const queryId = this.nextQueryId();
    this.counters.queries++;
    route.stats.queries++;
    const nowMs = this.clock.nowMs();
    const startMs = arrivalMs ?? nowMs;
    if (this.#closed || placement === null || startMs + sloMs <= nowMs) {
      const kind = this.#closed ? DefaultKind.Shutdown : placement === null ? DefaultKind.NoModel : DefaultKind.Slo;
      const why = this.#closed ? kExplainShutdown : placement === null ? kExplainNoModel : kExplainSlo;
      this.#answerDefaultNow(sink, index, queryId, route, why, kind, false, nowMs - startMs);
      return -1;
    }
    const cache = this.cache;
    const found = cache.lookup(placement, route.typeCode, input);
    const cacheStats = route.cacheStats ?? route.stats;
    if (found !== CacheResult.Bypass) cacheStats.cacheLookups++;
    if (found === CacheResult.Hit) {
      cacheStats.cacheHits++;
      this.#countAnswer(route, this.clock.nowMs() - startMs, -1);
      sink.onAnswer(index, makeAnswer(queryId, cache.hitOutput, false, null, false, extra));
      return -1;
    }
    const p: Pending = {
      token: -1,
      inRing: false,
      queryId,
      startMs,
      deadlineMs: startMs + sloMs,
      priority,
      index,
      sink,
      route,
      placement,
      input,
      extra,
      cacheHandle: -1,
      done: false,
      inHeap: false,
      fifo: null,
      prev: null,
      next: null,
    };
    this.#register(p);
    if (found === CacheResult.Attached) {
      // An identical query is in flight: answered when it is, or at the deadline.
      cache.attach(cache.handle, (output) => this.#onCacheSettled(p, output));
    } else {
      if (found === CacheResult.Owner) p.cacheHandle = cache.handle;
      if (!this.#dispatch(p)) {
        this.#finish(p);
        this.#settleCache(p, undefined);
        this.#answerDefaultNow(sink, index, queryId, route, kExplainQueueFull, DefaultKind.Shed, true, this.clock.nowMs() - startMs);
        return -1;
      }
    }
    this.#watch.watch(p, sloMs === route.sloMs ? sloMs : null);
    return p.token;
  }

  /** A reply from a batching worker (called from the reply-ring drain). */
  onReply = (token: number, status: ReplyStatus, reason: DefaultReason, text: string): void => {
    const p = this.#pending.get(token);
    if (p === undefined || !p.inRing) return; // already answered at its deadline, or cancelled
    const latencyMs = this.clock.nowMs() - p.startMs;
    this.#finish(p);
    if (status === ReplyStatus.Ok) {
      this.#countAnswer(p.route, latencyMs, -1);
      p.sink.onAnswer(p.index, makeAnswer(p.queryId, text, false, null, false, p.extra));
      this.#settleCache(p, text);
    } else {
      const shed = isShed(reason);
      this.#countAnswer(p.route, latencyMs, defaultKindOf(reason), shed);
      p.sink.onAnswer(p.index, makeAnswer(p.queryId, p.route.defaultJson, true, explainDefault(reason, text), shed, null));
      this.#settleCache(p, undefined);
    }
  };

  /** The client went away: forget its open queries and tell their workers to drop them. */
  cancel(tokens: readonly number[]): void {
    for (const token of tokens) {
      const p = this.#pending.get(token);
      if (p === undefined) continue;
      if (p.inRing) this.#pool.cancel(p.placement, token);
      this.#finish(p);
      this.counters.cancelled++;
      this.#settleCache(p, undefined);
    }
  }

  /** Answer everything still open (in a worker or waiting on the cache) so no client hangs. */
  close(): void {
    this.#closed = true;
    const nowMs = this.clock.nowMs();
    for (const p of this.#watch.drain()) {
      // A second safeguard: drain() returns a snapshot of the open queries, and a sink answered
      // earlier in this loop (a pipeline run) may cancel later ones of it; a query already done is
      // skipped, never answered (or counted) twice.
      if (p.done) continue;
      this.#finish(p);
      this.#countAnswer(p.route, nowMs - p.startMs, DefaultKind.Shutdown);
      p.sink.onAnswer(p.index, makeAnswer(p.queryId, p.route.defaultJson, true, kExplainShutdown, false, null));
    }
    assert.equal(this.#pending.size, 0, 'every open query is watched until it is answered');
  }

  /** Give the query its token (the key for replies and cancel), one no open query holds (token_counter.ts). */
  #register(p: Pending): void {
    const pending = this.#pending;
    p.token = this.#tokens.free(pending, p.queryId);
    // A fresh token adds an entry: checked by the map's size, without a lookup of its own.
    const size = pending.size;
    pending.set(p.token, p);
    if (pending.size === size) assert.fail('a token names one open query');
    this.#tokens.taken(pending.size, p.queryId);
  }

  /** Write the query into its worker's ring; false when the ring is full. */
  #dispatch(p: Pending): boolean {
    const input = p.input;
    const token = p.token;
    const ok =
      typeof input === 'string' || Buffer.isBuffer(input)
        ? this.#pool.submitBytes(p.placement, token, p.deadlineMs, p.priority, p.route.typeCode, input)
        : this.#pool.submitNumeric(p.placement, token, p.deadlineMs, p.priority, p.route.typeCode, input);
    p.inRing = ok;
    return ok;
  }

  /**
   * The one way out of the open set: the query is done (the caller answers it now, or it was
   * cancelled); it leaves the pending map and the deadline watch.
   */
  #finish(p: Pending): void {
    if (p.done) assert.fail('a query is answered (or cancelled) exactly once');
    p.done = true;
    this.#pending.delete(p.token);
    this.#tokens.left(p.queryId);
    this.#watch.unwatch(p);
  }

  /** Settle the cache entry this query computed (if any): its output, or undefined (failed). */
  #settleCache(p: Pending, output: string | undefined): void {
    const handle = p.cacheHandle;
    if (handle < 0) return;
    p.cacheHandle = -1;
    this.cache.settle(handle, output);
  }

  /** The identical query this one waited on finished: its output, or undefined (it failed). */
  #onCacheSettled(p: Pending, output: string | undefined): void {
    if (p.done) return;
    if (output !== undefined) {
      this.#finish(p);
      this.#countAnswer(p.route, this.clock.nowMs() - p.startMs, -1);
      p.sink.onAnswer(p.index, makeAnswer(p.queryId, output, false, null, false, p.extra));
      return;
    }
    // The identical query failed: this one goes to a worker itself. One whose deadline has come is
    // not written (the deadline watch answers it, now or at its next pass): no record goes out due.
    if (p.deadlineMs <= this.clock.nowMs() || this.#dispatch(p)) return;
    this.#finish(p);
    this.#countAnswer(p.route, 0, DefaultKind.Shed, true);
    p.sink.onAnswer(p.index, makeAnswer(p.queryId, p.route.defaultJson, true, kExplainQueueFull, true, null));
  }

  /** The deadline passed with no answer: the default output, with Clipper's explanation. */
  #answerAtDeadline(p: Pending, nowMs: number): void {
    this.#finish(p);
    this.#settleCache(p, undefined);
    this.#countAnswer(p.route, nowMs - p.startMs, DefaultKind.Slo);
    p.sink.onAnswer(p.index, makeAnswer(p.queryId, p.route.defaultJson, true, kExplainSlo, false, null));
  }

  /** A query that never became pending is answered with the default output at once. */
  #answerDefaultNow(
    sink: QuerySink,
    index: number,
    queryId: number,
    route: AppRoute,
    explanation: string,
    kind: DefaultKind,
    shed: boolean,
    latencyMs: number,
  ): void {
    this.#countAnswer(route, latencyMs, kind, shed);
    sink.onAnswer(index, makeAnswer(queryId, route.defaultJson, true, explanation, shed, null));
  }

  /**
   * The one place an answer is counted: globally, in its app's stats and latency histogram. `kind`:
   * why it is the default output (an SLO miss is DefaultKind.Slo), or -1 for a model's answer.
   */
  #countAnswer(route: AppRoute, latencyMs: number, kind: DefaultKind | -1, shed = false): void {
    this.counters.answered++;
    if (kind >= 0) {
      this.counters.defaults++;
      if (kind === DefaultKind.Slo) this.counters.sloMisses++;
      countDefault(route.stats, kind as DefaultKind, shed);
    }
    observeLatency(route.stats, latencyMs);
  }
}
