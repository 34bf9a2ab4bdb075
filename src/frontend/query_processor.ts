// The main thread's query bookkeeping: every query in flight, its deadline, and its answer.
//
// Deadlines cost O(1) per query: queries with the same SLO arrive in deadline order, so each
// distinct SLO keeps a FIFO, and one timer is armed for the earliest head. A query answered by a
// model stays in its FIFO (marked done) until its deadline passes; the timer answers every query
// still open at its deadline with the app's default output.

import { DefaultReason, monotonicNowMs, ReplyStatus } from '../ipc/records.js';
import { InputTypeCode } from '../input_types.js';
import type { Dispatcher, Placement } from './dispatcher.js';

export const kExplainNoModel = 'No connected models found for query';
export const kExplainSlo = 'Failed to retrieve a prediction response within the specified latency SLO';
export const kExplainQueueFull = 'The model queue is full: the query was shed';

/** Upper bounds (µs) of the end-to-end latency buckets kept per app; the last bucket is +Inf. */
export const kAppLatencyUsBuckets = [250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

/** Per-app counters, kept across configuration changes (one object per app name). */
export interface AppStats {
  queries: number;
  defaults: number;
  sloMisses: number;
  latencyCounts: number[];
  latencySumUs: number;
}

/** What one app needs on the hot path; rebuilt when the configuration changes. */
export interface AppRoute {
  readonly name: string;
  readonly stats: AppStats;
  readonly typeCode: InputTypeCode;
  /** The default output as JSON text (Clipper nests it when it is valid JSON). */
  readonly defaultJson: string;
  readonly sloMs: number;
  /** Linked model name(s); the first one is served (selection policies come later). */
  readonly modelName: string | null;
  /** Placement of the linked model's current version, or null if none is deployed. */
  readonly placement: Placement | null;
  /** Placements of every deployed version of the linked model, for `version` pinning. */
  readonly versions: ReadonlyMap<string, Placement>;
  readonly overloadResponse: 'status_429' | 'default_output';
}

/** Receives each query's answer; one sink per request (HTTP) or connection (WebSocket). */
export interface QuerySink {
  /** `shed`: a default output because the model queue refused the query (overload), which an app
   * may prefer to answer with 429. */
  onAnswer(index: number, queryId: number, outputJson: string, isDefault: boolean, explanation: string | null,
    shed?: boolean): void;
}

interface Pending {
  token: number;
  queryId: number;
  startMs: number;
  deadlineMs: number;
  index: number;
  sink: QuerySink;
  route: AppRoute;
  placement: Placement;
  done: boolean;
}

class DeadlineFifo {
  items: Pending[] = [];
  head = 0;
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
  readonly #appStats = new Map<string, AppStats>();
  #timer: NodeJS.Timeout | null = null;
  #timerAtMs = Infinity;
  #nextToken = 0;
  #nextQueryId = 0;
  readonly counters: QueryCounters = { queries: 0, answered: 0, defaults: 0, sloMisses: 0 };

  constructor(dispatcher: Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  nextQueryId(): number {
    return this.#nextQueryId++;
  }

  /** The stats object of an app (created on first use; survives route rebuilds). */
  appStats(name: string): AppStats {
    let stats = this.#appStats.get(name);
    if (stats === undefined) {
      stats = { queries: 0, defaults: 0, sloMisses: 0, latencyCounts: new Array<number>(kAppLatencyUsBuckets.length + 1).fill(0), latencySumUs: 0 };
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
   * Start one query. It is answered through `sink` exactly once: by the model, or with the default
   * output (no model, overload, model error) at once, or at its deadline at the latest.
   */
  submit(route: AppRoute, placement: Placement | null, input: number[] | string | Buffer, sloMs: number,
    sink: QuerySink, index: number): number {
    const queryId = this.#nextQueryId++;
    this.counters.queries++;
    route.stats.queries++;
    if (placement === null) {
      this.#answerDefault(sink, index, queryId, route, kExplainNoModel);
      return -1;
    }
    const token = this.#nextToken;
    this.#nextToken = (this.#nextToken + 1) >>> 0;
    const startMs = monotonicNowMs();
    const deadlineMs = startMs + sloMs;
    const ok = typeof input === 'string' || Buffer.isBuffer(input)
      ? this.#dispatcher.submitBytes(placement, token, deadlineMs, route.typeCode, input)
      : this.#dispatcher.submitNumeric(placement, token, deadlineMs, route.typeCode, input);
    if (!ok) {
      this.#answerDefault(sink, index, queryId, route, kExplainQueueFull, true);
      return -1;
    }
    const pending: Pending = { token, queryId, startMs, deadlineMs, index, sink, route, placement, done: false };
    this.#pending.set(token, pending);
    let fifo = this.#fifos.get(sloMs);
    if (fifo === undefined) {
      fifo = new DeadlineFifo();
      this.#fifos.set(sloMs, fifo);
    }
    fifo.items.push(pending);
    if (deadlineMs < this.#timerAtMs) this.#armTimer(deadlineMs);
    return token;
  }

  /** The client went away: forget its open queries and tell their workers to drop them. */
  cancel(tokens: readonly number[]): void {
    for (const token of tokens) {
      const p = this.#pending.get(token);
      if (p === undefined || p.done) continue;
      p.done = true;
      this.#pending.delete(token);
      this.#dispatcher.cancel(p.placement, token);
    }
  }

  /** A reply from a batching worker (called from the reply-ring drain). */
  onReply = (token: number, status: ReplyStatus, reason: DefaultReason, text: string): void => {
    const p = this.#pending.get(token);
    if (p === undefined) return; // already answered at its deadline, or cancelled
    this.#pending.delete(token);
    p.done = true;
    this.counters.answered++;
    observeLatency(p.route.stats, monotonicNowMs() - p.startMs);
    if (status === ReplyStatus.Ok) {
      p.sink.onAnswer(p.index, p.queryId, text, false, null);
    } else {
      this.counters.defaults++;
      p.route.stats.defaults++;
      p.sink.onAnswer(p.index, p.queryId, p.route.defaultJson, true, explain(reason, text),
        reason === DefaultReason.QueueFull || reason === DefaultReason.DeadlineUnreachable);
    }
  };

  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    // Answer everything still open so no client hangs on shutdown.
    for (const p of this.#pending.values()) {
      p.done = true;
      p.sink.onAnswer(p.index, p.queryId, p.route.defaultJson, true, 'The server is shutting down');
    }
    this.#pending.clear();
    this.#fifos.clear();
  }

  #answerDefault(sink: QuerySink, index: number, queryId: number, route: AppRoute, explanation: string, shed = false): void {
    this.counters.answered++;
    this.counters.defaults++;
    route.stats.defaults++;
    observeLatency(route.stats, 0);
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
      const items = fifo.items;
      let head = fifo.head;
      while (head < items.length) {
        const p = items[head]!;
        if (!p.done) {
          if (p.deadlineMs > nowMs) break;
          p.done = true;
          this.#pending.delete(p.token);
          this.counters.answered++;
          this.counters.defaults++;
          this.counters.sloMisses++;
          p.route.stats.defaults++;
          p.route.stats.sloMisses++;
          observeLatency(p.route.stats, nowMs - p.startMs);
          p.sink.onAnswer(p.index, p.queryId, p.route.defaultJson, true, kExplainSlo);
        }
        head++;
      }
      if (head === items.length) {
        this.#fifos.delete(slo);
        continue;
      }
      if (head > 4096 && head * 2 > items.length) {
        fifo.items = items.slice(head);
        head = 0;
      }
      fifo.head = head;
      nextMs = Math.min(nextMs, fifo.items[head]!.deadlineMs);
    }
    if (nextMs !== Infinity) this.#armTimer(nextMs);
  };
}

function observeLatency(stats: AppStats, latencyMs: number): void {
  const us = latencyMs * 1000;
  let i = 0;
  while (i < kAppLatencyUsBuckets.length && us > kAppLatencyUsBuckets[i]!) i++;
  stats.latencyCounts[i]!++;
  stats.latencySumUs += us;
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
