// One query of a pipeline app, run inside the server (docs/pipelines.md, "Execution, budgets and
// fallbacks"): a StageRun is the QuerySink of the query's sub-queries (one per model call, as
// selection_route.ts's CombiningSink is for Exp4) and answers the client once.
//
//   One deadline: the query's end is arrival + runSpanMs(SLO) (the margin left for the last step
//   and timer lateness). A call starting at `now` gets stageBudgetMs(end − now, its weight, the
//   weights still ahead on the worst path) or its stage's fixed budget (stage_graph.ts), and is
//   submitted with that SLO: it is answered by then at the latest (the query processor's deadline
//   watch), so the run always ends by `end`. A call with no time left is not submitted.
//   Stages run in order as their inputs are ready (stage_step.ts decides each step); an output feeds
//   the next stage once parsed (pipeline_output.ts). A stage that fails (a model's default output, no
//   time left, an output that does not fit) has no output; with fallback 'best_so_far' a cascade
//   keeps its most confident answer so far, an ensemble or a combine what arrived, and the answer
//   says so ("fallback"); a stage reading a failed stage fails alike. The output stage failing, or
//   any failure with fallback 'default', answers the app's default output, explained. (A cascade
//   level that fails asks the next level while time is left, before either rule applies.)
//
//   Re-entrancy: answers can come while a step runs (a cache hit, a shed or a missing model answer
//   inside submit): #advance takes them in its next pass. An open run always waits on a sub-query;
//   if a bug breaks that, or a step throws, the query answers the default output and the run is
//   counted and reported (pipeline_runs.ts): one query, never the server.
//
// pipeline_runs.ts keeps the runs still open, for cancel.

import { kCallBudgetMsMin, runSpanMs, stageBudgetMs } from '../deadline_split.js';
import type { Answer, QuerySink } from './answer.js';
import { DefaultKind, type AppRoute } from './app_route.js';
import { kExplainShutdown } from './explanations.js';
import type { QueryInput, QueryProcessor } from './query_processor.js';
import { kQueryInput, type CompiledPipeline, type CompiledStage, type StageCall } from './stage_graph.js';
import { observeStage } from './stage_stats.js';
import { feedInput, parseOutput, StageFeedError } from '../pipeline_output.js';
import { answerExtraOf, continueStage, failureOf, kUnparsed, type StageFailure, type StageResult, StageState } from './stage_step.js';

/** Where a finished run is forgotten (pipeline_runs.ts). */
export interface RunRegistry {
  forget(run: StageRun): void;
  /** The run broke an invariant of the executor (`why`; `err` when something threw): it answers
   * the app's default output (counted); the registry reports it. */
  broken(run: StageRun, why: string, err: unknown): void;
}

export class StageRun implements QuerySink {
  /** The run token while open (pipeline_runs.ts), else -1. */
  token = -1;
  done = false;
  readonly processor: QueryProcessor;
  readonly pipeline: CompiledPipeline;
  readonly state: Uint8Array;
  /** Cascade: the level being answered; map: 0 featurizer, 1 predictor. */
  readonly step: Int32Array;
  readonly results: Array<StageResult | undefined>;
  readonly failures: Array<StageFailure | undefined>;
  /** Per call: its answer, or why it was never submitted. */
  readonly answers: Array<Answer | StageFailure | undefined>;
  readonly #values: unknown[];
  readonly #runs: RunRegistry;
  readonly #route: AppRoute;
  readonly #input: QueryInput;
  readonly #priority: number;
  readonly #outer: QuerySink;
  readonly #outerIndex: number;
  readonly #queryId: number;
  readonly #startMs: number;
  readonly #endMs: number;
  readonly #outstanding: Int32Array;
  readonly #stageStartMs: Float64Array;
  readonly #stageInputs: Array<QueryInput | undefined>;
  readonly #tokens: Float64Array;
  #pumping = false;
  #again = false;
  /** A sub-query was answered "shutting down": the query core answers every other one itself. */
  #shutdown = false;

  constructor(
    runs: RunRegistry,
    processor: QueryProcessor,
    route: AppRoute,
    pipeline: CompiledPipeline,
    input: QueryInput,
    sloMs: number,
    priority: number,
    outer: QuerySink,
    outerIndex: number,
    arrivalMs?: number,
  ) {
    this.#runs = runs;
    this.processor = processor;
    this.pipeline = pipeline;
    this.#route = route;
    this.#input = input;
    this.#priority = priority;
    this.#outer = outer;
    this.#outerIndex = outerIndex;
    this.#queryId = processor.nextQueryId();
    // The run's span counts from its request's arrival: time spent before submit is the first call's.
    this.#startMs = arrivalMs ?? processor.clock.nowMs();
    this.#endMs = this.#startMs + runSpanMs(sloMs);
    const n = pipeline.stages.length;
    this.state = new Uint8Array(n);
    this.step = new Int32Array(n);
    this.#outstanding = new Int32Array(n);
    this.#stageStartMs = new Float64Array(n);
    this.results = new Array<StageResult | undefined>(n);
    this.failures = new Array<StageFailure | undefined>(n);
    this.#stageInputs = new Array<QueryInput | undefined>(n);
    this.answers = new Array<Answer | StageFailure | undefined>(pipeline.callCount);
    this.#values = new Array<unknown>(pipeline.callCount).fill(kUnparsed);
    this.#tokens = new Float64Array(pipeline.callCount).fill(-1);
  }

  /** Start the stages that read only the query's input (answers may come at once). */
  start(): void {
    // Counted at submit, not at arrival: the rate's per-second slots assume times that only grow.
    this.pipeline.stats.arrive(this.processor.clock.nowMs());
    this.#advance();
  }

  onAnswer(call: number, answer: Answer): void {
    if (this.done) return; // cancelled or answered: its other sub-queries no longer matter
    this.#tokens[call] = -1;
    this.answers[call] = answer;
    const s = this.pipeline.callStage[call]!;
    this.#outstanding[s]!--;
    if (answer.isDefault && answer.explanation === kExplainShutdown) this.#shutdown = true;
    // With fallback 'default' one failed call settles the query: no need to wait for the others
    // (but a cascade goes on to its next level while time is left: stage_step.ts).
    const st = this.pipeline.stages[s]!;
    if (answer.isDefault && this.pipeline.fallback === 'default' && st.kind !== 'cascade') {
      try {
        this.fail(s, failureOf(st, call - st.callBase, answer));
      } catch (err) {
        this.#caught(err);
      }
      return;
    }
    this.#advance();
  }

  /** Whether call `k` of stage `s` would get a budget now (time is left for it). */
  canCall(s: number, k: number): boolean {
    const st = this.pipeline.stages[s]!;
    return this.#budgetMs(st, st.calls[k]!) >= kCallBudgetMsMin;
  }

  /** The client went away: forget the run and its sub-queries; it is never answered. */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.#cancelCalls();
  }

  /** The parsed output of call `g` (parsed once). */
  callValue(g: number): unknown {
    let v = this.#values[g];
    if (v === kUnparsed) {
      v = parseOutput((this.answers[g] as Answer).outputJson);
      this.#values[g] = v;
    }
    return v;
  }

  /** The parsed output of stage `s` (parsed once). */
  resultValue(s: number): unknown {
    const r = this.results[s]!;
    if (r.value === kUnparsed) r.value = parseOutput(r.json);
    return r.value;
  }

  /**
   * Submit call `k` of stage `s` with its budget, its input `given` or the stage's input. A call
   * that cannot go (no time left, an input that does not fit) gets its failure as its answer.
   */
  call(s: number, k: number, given?: QueryInput): void {
    const st = this.pipeline.stages[s]!;
    const call = st.calls[k]!;
    const g = st.callBase + k;
    let input = given;
    if (input === undefined) {
      try {
        input = this.#stageInput(st, call);
      } catch (err) {
        if (!(err instanceof StageFeedError)) throw err;
        const src = st.inputs[0]! === kQueryInput ? 'the query' : `stage '${this.pipeline.stages[st.inputs[0]!]!.name}'`;
        this.answers[g] = {
          why: `the input of ${src} does not fit model '${call.model}': ${err.message}`,
          kind: DefaultKind.Other,
          shed: false,
        };
        this.#again = true; // the stage steps on in this pass of #advance
        return;
      }
    }
    const budgetMs = this.#budgetMs(st, call);
    if (budgetMs < kCallBudgetMsMin) {
      this.answers[g] = { why: `no time was left for model '${call.model}' before the deadline`, kind: DefaultKind.Slo, shed: false };
      this.#again = true;
      return;
    }
    this.#outstanding[s]!++;
    const token = this.processor.submit(call.route, call.placement, input, budgetMs, this.#priority, this, g);
    if (token >= 0 && this.answers[g] === undefined) this.#tokens[g] = token;
  }

  /** An output as model `call`'s input (throws StageFeedError when it does not fit; 413-size too). */
  feed(value: unknown, json: string, call: StageCall): QueryInput {
    const input = feedInput(value, json, call.inputType);
    try {
      this.processor.assertInputsFit([input], call.route.typeCode);
    } catch (err) {
      throw new StageFeedError(err instanceof Error ? err.message : String(err));
    }
    return input;
  }

  /** Stage `s` produced its output. */
  resolve(s: number, result: StageResult): void {
    this.state[s] = StageState.Done;
    this.results[s] = result;
    observeStage(this.pipeline.stages[s]!.stats, this.processor.clock.nowMs() - this.#stageStartMs[s]!);
    if (s === this.pipeline.outputIndex) this.#finish(null);
  }

  /** Stage `s` failed (`own`: by itself, not because a stage it reads did): no output. */
  fail(s: number, failure: StageFailure, own = true): void {
    const st = this.pipeline.stages[s]!;
    this.state[s] = StageState.Absent;
    const f = own ? { ...failure, why: `pipeline stage '${st.name}': ${failure.why}` } : failure;
    this.failures[s] = f;
    if (own) {
      st.stats.fallbacks++;
      observeStage(st.stats, this.processor.clock.nowMs() - this.#stageStartMs[s]!);
    }
    if (this.pipeline.fallback === 'default' || s === this.pipeline.outputIndex) this.#finish(f);
  }

  /** Run every step that can run now; answers arriving meanwhile (synchronously) are taken in turn. */
  #advance(): void {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      this.#pump();
    } catch (err) {
      this.#caught(err);
    }
    this.#pumping = false;
    // An open run always waits on a sub-query (whose answer comes by its deadline): one that waits
    // on none would never be answered.
    if (!this.done && this.#outstanding.every((n) => n === 0)) this.#broken('the run has no answer and waits on no model call', null);
  }

  #pump(): void {
    const stages = this.pipeline.stages;
    do {
      this.#again = false;
      for (let s = 0; s < stages.length && !this.done; s++) {
        const state = this.state[s]!;
        if (state === StageState.Waiting) this.#tryStart(stages[s]!);
        else if (state === StageState.Running && this.#outstanding[s] === 0) continueStage(this, s);
      }
    } while (this.#again && !this.done);
  }

  /**
   * A step threw. Before the run is answered, it answers the app's default output (a bug must cost
   * one query its answer, never the server); after (the client's sink threw, or another run woken
   * by a cancel), the error is not this run's: it goes on up.
   */
  #caught(err: unknown): void {
    if (this.done) throw err;
    this.#broken(`an error in the executor: ${err instanceof Error ? err.message : String(err)}`, err);
  }

  /** An invariant broke: count and report it, and answer the app's default output. */
  #broken(why: string, err: unknown): void {
    this.pipeline.stats.runErrors++;
    this.#runs.broken(this, why, err);
    if (!this.done) this.#finish({ why: `pipeline '${this.pipeline.app}': internal error: ${why}`, kind: DefaultKind.Other, shed: false });
  }

  /** Start the stage once every stage it reads has an output or has failed. */
  #tryStart(st: CompiledStage): void {
    let absent = -1;
    let present = 0;
    for (const i of st.inputs) {
      if (i === kQueryInput) present++;
      else if (this.state[i]! <= StageState.Running) return;
      else if (this.state[i] === StageState.Absent) absent = absent < 0 ? i : absent;
      else present++;
    }
    const s = st.index;
    if (absent >= 0 && (st.kind !== 'combine' || present === 0)) {
      this.fail(s, this.failures[absent]!, false);
      return;
    }
    this.state[s] = StageState.Running;
    this.#stageStartMs[s] = this.processor.clock.nowMs();
    st.stats.calls++;
    if (st.kind === 'combine') continueStage(this, s);
    else if (st.kind === 'ensemble') for (let k = 0; k < st.calls.length && !this.done; k++) this.call(s, k);
    else this.call(s, 0);
  }

  /** The stage's input for its models (converted once per stage; a cascade's levels share it). */
  #stageInput(st: CompiledStage, call: StageCall): QueryInput {
    let input = this.#stageInputs[st.index];
    if (input !== undefined) return input;
    const src = st.inputs[0]!;
    if (src === kQueryInput) {
      if (call.inputType !== this.pipeline.inputType) {
        throw new StageFeedError(`the model takes ${call.inputType}, the application ${this.pipeline.inputType}`);
      }
      input = this.#input;
    } else {
      input = this.feed(this.resultValue(src), this.results[src]!.json, call);
    }
    this.#stageInputs[st.index] = input;
    return input;
  }

  /** The SLO of a call starting now: a share of what is left before the end, or the stage's fixed budget. */
  #budgetMs(st: CompiledStage, call: StageCall): number {
    const nowMs = this.processor.clock.nowMs();
    if (st.fixedMs !== null) {
      const stageEndMs = Math.min(this.#endMs, this.#stageStartMs[st.index]! + st.fixedMs);
      return stageBudgetMs(stageEndMs - nowMs, call.weight, call.aheadInStage, null);
    }
    return stageBudgetMs(this.#endMs - nowMs, call.weight, call.aheadInStage + st.aheadAfter, null);
  }

  /** Answer the client: the output stage's output, or (failure) the app's default output. */
  #finish(failure: StageFailure | null): void {
    this.done = true;
    this.#cancelCalls();
    this.#runs.forget(this);
    const route = this.#route;
    const latencyMs = this.processor.clock.nowMs() - this.#startMs;
    if (failure === null) {
      const result = this.results[this.pipeline.outputIndex]!;
      this.processor.countCombined(route, latencyMs, -1, false);
      this.#outer.onAnswer(this.#outerIndex, {
        queryId: this.#queryId,
        outputJson: result.json,
        isDefault: false,
        explanation: null,
        shed: false,
        extra: answerExtraOf(this.pipeline, result),
      });
      return;
    }
    this.processor.countCombined(route, latencyMs, failure.kind, failure.shed);
    this.#outer.onAnswer(this.#outerIndex, {
      queryId: this.#queryId,
      outputJson: route.defaultJson,
      isDefault: true,
      explanation: failure.why,
      shed: failure.shed,
      extra: null,
    });
  }

  /** Forget the sub-queries still in flight (their workers drop them). */
  #cancelCalls(): void {
    // Shutting down, the query core answers all of them itself (cancelling from there would finish
    // them twice).
    if (this.#shutdown) return;
    const tokens = this.#tokens;
    let open: number[] | null = null;
    for (let g = 0; g < tokens.length; g++) {
      if (tokens[g]! < 0) continue;
      if (open === null) open = [];
      open.push(tokens[g]!);
      tokens[g] = -1;
    }
    if (open !== null) this.processor.cancel(open);
  }
}
