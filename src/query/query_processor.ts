// The main thread's query bookkeeping: every query in flight, its deadline, and its answer.
//
// Deadlines cost O(1) per query: queries with the same SLO arrive in deadline order, so each
// distinct SLO keeps a FIFO (an intrusive list: an answered query unlinks itself at once, so it
// dies young instead of being promoted by the garbage collector), and one timer is armed for the
// earliest head. The timer answers every query still open at its deadline with the app's default
// output.

import { ClipperError } from '../errors.js';
import { DefaultReason, ReplyStatus } from '../ipc/records.js';
import { monotonicNowMs } from '../lib/clock.js';
import { numericElementBytes, type InputTypeCode } from '../input_types.js';
import { DeadlineQueue } from '../lib/deadline_queue.js';
import { newBucketHistogram, observeBucket, type BucketHistogram } from '../lib/bucket_histogram.js';
import type { AppSelection } from '../selection/app_selection.js';
import type { Dispatcher, Placement } from '../batching/pool.js';
import { CacheResult, QueryCache } from './query_cache.js';

export const kExplainNoModel = 'No connected models found for query';
export const kExplainSlo = 'Failed to retrieve a prediction response within the specified latency SLO';
export const kExplainQueueFull = 'The model queue is full: the query was shed';
export const kExplainShutdown = 'The server is shutting down';

/** Upper bounds (µs) of the end-to-end latency buckets kept per app; the last bucket is +Inf. */
export const kAppLatencyUsBuckets = [250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

/** Per-app counters, kept across configuration changes (one object per app name). */
export interface AppStats {
  queries: number;
  defaults: number;
  sloMisses: number;
  /** End-to-end latency of answered queries, µs, over kAppLatencyUsBuckets. */
  latencyUs: BucketHistogram;
}

/** What one app needs on the hot path; rebuilt when the configuration changes. */
export interface AppRoute {
  readonly name: string;
  readonly stats: AppStats;
  readonly typeCode: InputTypeCode;
  /** The default output as JSON text (Clipper nests it when it is valid JSON). */
  readonly defaultJson: string;
  readonly sloMs: number;
  /** The first linked model's name (the one `version` pins). */
  readonly modelName: string | null;
  /** Placement of the first linked model's current version, or null if none is deployed. */
  readonly placement: Placement | null;
  /** Placements of every deployed version of the first linked model, for `version` pinning. */
  readonly versions: ReadonlyMap<string, Placement>;
  readonly overloadResponse: 'status_429' | 'default_output';
  /** The selection policy over several linked models; null with one linked model (or none). */
  readonly selection?: AppSelection | null;
}

/** The placement a query goes to: the current version, or the pinned `version` (400 if unknown). */
export function pinnedPlacement(route: AppRoute, version: string | null): Placement | null {
  if (version === null) return route.placement;
  if (route.modelName === null) {
    throw new ClipperError('CLP_ERR_QUERY_PROCESSING', `Requested version: ${version} but application '${route.name}' has no linked model`);
  }
  const pinned = route.versions.get(version);
  if (pinned === undefined) {
    throw new ClipperError('CLP_ERR_QUERY_PROCESSING', `Requested version: ${version} does not exist for model: ${route.modelName}`);
  }
  return pinned;
}

/** Receives each query's answer; one sink per request (HTTP) or connection (WebSocket). */
export interface QuerySink {
  /** `shed`: a default output because the model queue refused the query (overload), which an app
   * may prefer to answer with 429. */
  onAnswer(index: number, queryId: number, outputJson: string, isDefault: boolean, explanation: string | null,
    shed?: boolean, extraJson?: string): void;
}

/**
 * Extra fields of an answer as a JSON object fragment starting with ',' (e.g. `,"models":["a"]`),
 * or ''. Written after Clipper's keys.
 */
export type ExtraJson = string;

interface Pending {
  token: number;
  /** True once written to a worker's ring; false while it waits on an identical query (cache). */
  inRing: boolean;
  queryId: number;
  startMs: number;
  deadlineMs: number;
  index: number;
  sink: QuerySink;
  route: AppRoute;
  placement: Placement;
  input: number[] | string | Buffer;
  /** Extra answer fields on success (selection: the model that served it). */
  extraJson: string;
  /** The cache entry this query computes (others may wait on it), or -1. */
  cacheHandle: number;
  /** Watched in the heap of off-SLO deadlines (not its app's FIFO). */
  inHeap: boolean;
  done: boolean;
  /** Its SLO's deadline FIFO while open and watched there, with its neighbours. */
  fifo: DeadlineFifo | null;
  prev: Pending | null;
  next: Pending | null;
}

/** Open queries of one SLO, in deadline order (= arrival order). */
interface DeadlineFifo {
  head: Pending | null;
  tail: Pending | null;
}

export interface QueryCounters {
  queries: number;
  answered: number;
  defaults: number;
  sloMisses: number;
}

export class QueryProcessor {
  readonly #dispatcher: Dispatcher;
  readonly #pending = new Map<number, Pending>();
  readonly #fifos = new Map<number, DeadlineFifo>();
  /** Deadlines that are not their app's SLO (a request's slo_micros, Exp4 sub-queries): a client
   * choosing many SLOs must not multiply FIFOs, so these share one EDF heap (O(log n)). */
  readonly #offSloHeap = new DeadlineQueue<Pending>();
  readonly #appStats = new Map<string, AppStats>();
  #timer: NodeJS.Timeout | null = null;
  #timerAtMs = Infinity;
  #closed = false;
  #nextToken = 0;
  #nextQueryId = 0;
  readonly counters: QueryCounters = { queries: 0, answered: 0, defaults: 0, sloMisses: 0 };
  readonly cache: QueryCache;

  constructor(dispatcher: Dispatcher, cacheBytesMax: number) {
    this.#dispatcher = dispatcher;
    this.cache = new QueryCache(cacheBytesMax);
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  nextQueryId(): number {
    return this.#nextQueryId++;
  }

  /**
   * Refuse (413) an input larger than one ring record can carry: it could never reach a worker, so
   * answering it as shed (retry later) would mislead.
   */
  assertInputsFit(inputs: ReadonlyArray<number[] | string | Buffer>, type: InputTypeCode): void {
    const max = this.#dispatcher.inputBytesMax;
    const elementBytes = numericElementBytes(type);
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      const bytes = typeof input === 'string' ? (input.length <= max / 3 ? 0 : Buffer.byteLength(input, 'utf8'))
        : Buffer.isBuffer(input) ? input.length : input.length * elementBytes;
      if (bytes > max) {
        throw new ClipperError('CLP_ERR_BODY_TOO_LARGE',
          `input ${inputs.length > 1 ? `[${i}] ` : ''}of ${bytes} bytes exceeds the largest query the batching ring carries (${max} bytes; config ringBytes)`);
      }
    }
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

  /**
   * Start one query. It is answered through `sink` exactly once: from the cache, by the model, or
   * with the default output (no model, overload, model error) at once, or at its deadline at the
   * latest. Returns the ring token (for cancel()), or -1 when nothing went to a worker.
   */
  submit(route: AppRoute, placement: Placement | null, input: number[] | string | Buffer, sloMs: number,
    sink: QuerySink, index: number, extraJson: ExtraJson = ''): number {
    const queryId = this.#nextQueryId++;
    this.counters.queries++;
    route.stats.queries++;
    if (this.#closed) {
      this.#answerDefault(sink, index, queryId, route, kExplainShutdown);
      return -1;
    }
    if (placement === null) {
      this.#answerDefault(sink, index, queryId, route, kExplainNoModel);
      return -1;
    }
    const startMs = monotonicNowMs();
    const cache = this.cache;
    const found = cache.lookup(placement, route.typeCode, input);
    if (found === CacheResult.Hit) {
      this.#countAnswer(route, monotonicNowMs() - startMs, false);
      sink.onAnswer(index, queryId, cache.hitOutput, false, null, false, extraJson);
      return -1;
    }
    const p: Pending = { token: -1, inRing: false, queryId, startMs, deadlineMs: startMs + sloMs, index, sink, route,
      placement, input, extraJson, cacheHandle: -1, inHeap: false, done: false, fifo: null, prev: null, next: null };
    if (found === CacheResult.Attached) {
      // An identical query is in flight: answered when it is, or at the deadline.
      cache.attach(cache.handle, (output) => this.#onCacheSettled(p, output));
      this.#register(p);
      this.#track(p, sloMs);
      return p.token;
    }
    if (found === CacheResult.Owner) p.cacheHandle = cache.handle;
    this.#register(p);
    if (!this.#dispatch(p)) {
      p.done = true;
      this.#pending.delete(p.token);
      if (p.cacheHandle >= 0) this.cache.settle(p.cacheHandle, undefined);
      this.#answerDefault(sink, index, queryId, route, kExplainQueueFull, true);
      return -1;
    }
    this.#track(p, sloMs);
    return p.token;
  }

  /** Give the query its token (the key for replies and cancel). */
  #register(p: Pending): void {
    p.token = this.#nextToken;
    this.#nextToken = (this.#nextToken + 1) >>> 0;
    this.#pending.set(p.token, p);
  }

  /** Write the query into its worker's ring; false when the ring is full. */
  #dispatch(p: Pending): boolean {
    const input = p.input;
    const ok = typeof input === 'string' || Buffer.isBuffer(input)
      ? this.#dispatcher.submitBytes(p.placement, p.token, p.deadlineMs, p.route.typeCode, input)
      : this.#dispatcher.submitNumeric(p.placement, p.token, p.deadlineMs, p.route.typeCode, input);
    p.inRing = ok;
    return ok;
  }

  /** Put the query under deadline watch. */
  #track(p: Pending, sloMs: number): void {
    if (sloMs !== p.route.sloMs) {
      p.inHeap = true;
      this.#offSloHeap.push(p);
      if (p.deadlineMs < this.#timerAtMs) this.#armTimer(p.deadlineMs);
      return;
    }
    let fifo = this.#fifos.get(sloMs);
    if (fifo === undefined) {
      fifo = { head: null, tail: null };
      this.#fifos.set(sloMs, fifo);
    }
    p.fifo = fifo;
    p.prev = fifo.tail;
    if (fifo.tail === null) fifo.head = p;
    else fifo.tail.next = p;
    fifo.tail = p;
    if (p.deadlineMs < this.#timerAtMs) this.#armTimer(p.deadlineMs);
  }

  /** The identical query this one waited on finished: its output, or undefined (it failed). */
  #onCacheSettled(p: Pending, output: string | undefined): void {
    if (p.done) return;
    if (output !== undefined) {
      p.done = true;
      this.#pending.delete(p.token);
      this.#answerOk(p, output);
      this.#release(p);
    } else if (!this.#dispatch(p)) {
      p.done = true;
      this.#pending.delete(p.token);
      this.#answerDefault(p.sink, p.index, p.queryId, p.route, kExplainQueueFull, true);
      this.#release(p);
    }
  }

  /** An answered query stops being watched: it leaves its deadline FIFO or the heap at once. */
  #release(p: Pending): void {
    if (p.inHeap) {
      p.inHeap = false;
      this.#offSloHeap.remove(p.token);
    }
    const fifo = p.fifo;
    if (fifo !== null) {
      if (p.prev === null) fifo.head = p.next;
      else p.prev.next = p.next;
      if (p.next === null) fifo.tail = p.prev;
      else p.next.prev = p.prev;
      p.fifo = p.prev = p.next = null;
    }
    p.cacheHandle = -1;
  }

  /** The one place an answer is counted: globally, in its app's stats and latency histogram. */
  #countAnswer(route: AppRoute, latencyMs: number, isDefault: boolean, sloMiss = false): void {
    this.counters.answered++;
    if (isDefault) {
      this.counters.defaults++;
      route.stats.defaults++;
    }
    if (sloMiss) {
      this.counters.sloMisses++;
      route.stats.sloMisses++;
    }
    observeLatency(route.stats, latencyMs);
  }

  #answerOk(p: Pending, outputJson: string): void {
    this.#countAnswer(p.route, monotonicNowMs() - p.startMs, false);
    p.sink.onAnswer(p.index, p.queryId, outputJson, false, null, false, p.extraJson);
  }

  /** A fresh stats object that is not an app's (for sub-queries made on an app's behalf). */
  detachedStats(): AppStats {
    return newAppStats();
  }

  /** Count one answer that a combining sink made from sub-queries, in the app's stats. */
  countCombined(route: AppRoute, latencyMs: number, isDefault: boolean, sloMiss: boolean): void {
    route.stats.queries++;
    if (isDefault) route.stats.defaults++;
    if (sloMiss) route.stats.sloMisses++;
    observeLatency(route.stats, latencyMs);
  }

  /** The client went away: forget its open queries and tell their workers to drop them. */
  cancel(tokens: readonly number[]): void {
    for (const token of tokens) {
      const p = this.#pending.get(token);
      if (p === undefined || p.done) continue;
      p.done = true;
      this.#pending.delete(token);
      if (p.inRing) this.#dispatcher.cancel(p.placement, token);
      if (p.cacheHandle >= 0) this.cache.settle(p.cacheHandle, undefined);
      this.#release(p);
    }
  }

  /** A reply from a batching worker (called from the reply-ring drain). */
  onReply = (token: number, status: ReplyStatus, reason: DefaultReason, text: string): void => {
    const p = this.#pending.get(token);
    if (p === undefined || !p.inRing) return; // already answered at its deadline, or cancelled
    this.#pending.delete(token);
    p.done = true;
    if (status === ReplyStatus.Ok) {
      this.#answerOk(p, text);
      if (p.cacheHandle >= 0) this.cache.settle(p.cacheHandle, text);
    } else {
      this.#countAnswer(p.route, monotonicNowMs() - p.startMs, true);
      p.sink.onAnswer(p.index, p.queryId, p.route.defaultJson, true, explain(reason, text),
        reason === DefaultReason.QueueFull || reason === DefaultReason.DeadlineUnreachable);
      if (p.cacheHandle >= 0) this.cache.settle(p.cacheHandle, undefined);
    }
    this.#release(p);
  };

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    // Answer everything still open (in a worker or waiting on the cache) so no client hangs.
    for (const fifo of this.#fifos.values()) {
      for (let p = fifo.head; p !== null; p = p.next) {
        p.done = true;
        p.sink.onAnswer(p.index, p.queryId, p.route.defaultJson, true, kExplainShutdown);
      }
    }
    for (const p of this.#offSloHeap.drain()) {
      if (p.done) continue;
      p.done = true;
      p.sink.onAnswer(p.index, p.queryId, p.route.defaultJson, true, kExplainShutdown);
    }
    this.#pending.clear();
    this.#fifos.clear();
  }

  #answerDefault(sink: QuerySink, index: number, queryId: number, route: AppRoute, explanation: string, shed = false): void {
    this.#countAnswer(route, 0, true);
    sink.onAnswer(index, queryId, route.defaultJson, true, explanation, shed);
  }

  #armTimer(atMs: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAtMs = atMs;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, atMs - monotonicNowMs()));
  }

  #onTimer = (): void => {
    this.#timer = null;
    this.#timerAtMs = Infinity;
    const nowMs = monotonicNowMs();
    let nextMs = Infinity;
    for (const [slo, fifo] of this.#fifos) {
      // The FIFO holds only open queries (answered ones unlink themselves in #release).
      for (let p = fifo.head; p !== null && p.deadlineMs <= nowMs; p = fifo.head) this.#answerAtDeadline(p, nowMs);
      if (fifo.head === null) this.#fifos.delete(slo);
      else nextMs = Math.min(nextMs, fifo.head.deadlineMs);
    }
    // The heap holds only open queries (answered ones leave it in #release).
    for (let p = this.#offSloHeap.peek(); p !== undefined && p.deadlineMs <= nowMs; p = this.#offSloHeap.peek()) {
      this.#answerAtDeadline(p, nowMs);
    }
    nextMs = Math.min(nextMs, this.#offSloHeap.peek()?.deadlineMs ?? Infinity);
    if (nextMs !== Infinity) this.#armTimer(nextMs);
  };

  /** The deadline passed with no answer: the default output, with Clipper's explanation. */
  #answerAtDeadline(p: Pending, nowMs: number): void {
    p.done = true;
    this.#pending.delete(p.token);
    if (p.cacheHandle >= 0) this.cache.settle(p.cacheHandle, undefined);
    this.#countAnswer(p.route, nowMs - p.startMs, true, true);
    p.sink.onAnswer(p.index, p.queryId, p.route.defaultJson, true, kExplainSlo);
    this.#release(p);
  }
}

function newAppStats(): AppStats {
  return { queries: 0, defaults: 0, sloMisses: 0, latencyUs: newBucketHistogram(kAppLatencyUsBuckets) };
}

function observeLatency(stats: AppStats, latencyMs: number): void {
  observeBucket(stats.latencyUs, latencyMs * 1000);
}

function explain(reason: DefaultReason, detail: string): string {
  switch (reason) {
    case DefaultReason.NoReplica:
    case DefaultReason.UnknownModel:
      return kExplainNoModel;
    case DefaultReason.ModelError:
      return `Model error: ${detail}`;
    case DefaultReason.QueueFull:
      return kExplainQueueFull;
    case DefaultReason.DeadlineUnreachable:
      return 'The query could not be answered within its latency SLO: it was shed';
    case DefaultReason.ReplicaFailed:
      return `The model replica failed: ${detail}`;
    default:
      return detail || 'Default output';
  }
}
