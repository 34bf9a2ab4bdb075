// The pipeline runs still open (stage_run.ts), each under a run token: >= 2^32, so never a ring
// token (those are 32-bit), and kept by the caller like one. A client that goes away cancels its
// tokens (QueryPipeline.cancel): the run and its sub-queries are forgotten, never answered.
// A run that breaks an invariant of the executor answers the app's default output (stage_run.ts);
// the registry counts it and tells `onBroken` (tests and the simulator fail on it; by default a
// line on stderr, at the 1st, 2nd, 4th, 8th, ... time).

import type { QuerySink } from './answer.js';
import type { AppRoute } from './app_route.js';
import type { QueryInput, QueryProcessor } from './query_processor.js';
import type { CompiledPipeline } from './stage_graph.js';
import { type RunRegistry, StageRun } from './stage_run.js';

/** Run tokens start here: ring tokens are 32-bit. */
export const kRunTokenBase = 2 ** 32;

export interface PipelineRunsOptions {
  /** A run broke an invariant (`why`; `err`: what was thrown, if anything); it answered the default output. */
  onBroken?: (why: string, err: unknown) => void;
}

/** The pipeline runs still open, by run token (for cancel when a client goes away). */
export class PipelineRuns implements RunRegistry {
  readonly #open = new Map<number, StageRun>();
  readonly #onBroken: (why: string, err: unknown) => void;
  #next = 0;
  /** Runs that broke an invariant (each answered the default output). */
  brokenCount = 0;

  constructor(options: PipelineRunsOptions = {}) {
    this.#onBroken = options.onBroken ?? this.#log;
  }

  get openCount(): number {
    return this.#open.size;
  }

  /**
   * Run one query of a pipeline app; it is answered through `sink.onAnswer(index, …)` exactly once,
   * by its deadline (from `arrivalMs`, its request's arrival; default now). Returns its run token,
   * or -1 when it is already answered.
   */
  start(
    processor: QueryProcessor,
    route: AppRoute,
    pipeline: CompiledPipeline,
    input: QueryInput,
    sloMs: number,
    priority: number,
    sink: QuerySink,
    index: number,
    arrivalMs?: number,
  ): number {
    const run = new StageRun(this, processor, route, pipeline, input, sloMs, priority, sink, index, arrivalMs);
    run.start();
    if (run.done) return -1;
    const token = kRunTokenBase + this.#next;
    this.#next = (this.#next + 1) % kRunTokenBase;
    run.token = token;
    this.#open.set(token, run);
    return token;
  }

  /** Cancel the runs among `tokens` (ring tokens are left to the query processor). */
  cancel(tokens: readonly number[]): void {
    for (const token of tokens) {
      if (token < kRunTokenBase) continue;
      const run = this.#open.get(token);
      if (run === undefined) continue;
      this.#open.delete(token);
      run.cancel();
    }
  }

  forget(run: StageRun): void {
    if (run.token >= 0) this.#open.delete(run.token);
  }

  broken(run: StageRun, why: string, err: unknown): void {
    this.brokenCount++;
    this.forget(run);
    this.#onBroken(`pipeline app '${run.pipeline.app}': ${why}`, err);
  }

  readonly #log = (why: string, err: unknown): void => {
    const n = this.brokenCount;
    if ((n & (n - 1)) !== 0) return;
    const stack = err instanceof Error && err.stack !== undefined ? `\n${err.stack}` : '';
    process.stderr.write(`clipper: a pipeline run failed (${n} so far), answered with the default output: ${why}${stack}\n`);
  };
}
