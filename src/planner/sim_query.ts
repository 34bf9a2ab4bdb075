// One query through the simulated pipeline: its stages run as their sources finish, each model call
// with the budget the executor (src/query/stage_run.ts) would give it: stageBudgetMs
// (deadline_split.ts) over the weights of sim_graph.ts, of the time left before the run's end
// (arrival + runSpanMs(SLO)). A cascade stops at the first level whose answer is confident, drawn per
// level for this query when it arrived (the draws do not depend on scheduling, so every
// configuration sees the same queries); an ensemble waits for all its members; a map calls its
// featurizer, then its predictor; a combine waits for its inputs. A call that is dropped, or not
// answered by the end of its budget, fails the query: in the server it would take the fallback,
// which the planner counts as an SLO miss. Except in a cascade, as the executor does
// (src/query/stage_step.ts): a level other than the last that fails (dropped, or not answered when
// its budget ends) fails over to the next level, which gets its budget of the time left; only the
// last level failing, or no time left for the next, fails the query.

import type { Prng } from '../lib/prng.js';
import { kCallBudgetMsMin, runSpanMs, stageBudgetMs } from '../deadline_split.js';
import type { SimGraph } from './sim_graph.js';
import type { CallEnd } from './sim_model.js';

/** What a query needs of its simulation. */
export interface QueryHost {
  readonly graph: SimGraph;
  nowMs(): number;
  /** Submits a call of `model` due at `deadlineMs`; returns what drops it while it is still queued. */
  call(model: string, deadlineMs: number, done: (end: CallEnd) => void): () => void;
  /** Runs `fn` at simulated time `atMs` unless the returned function is called first. */
  at(atMs: number, fn: () => void): () => void;
  /** The query ended: answered at `atMs`, or failed at the call of `failedModel`. */
  finish(query: SimQuery, atMs: number, failedModel: string | null): void;
}

export class SimQuery {
  readonly arrivalMs: number;
  /** The run's end: every call is due by then. */
  readonly endMs: number;
  readonly #host: QueryHost;
  /** Per stage: for a cascade, per level but the last, whether its answer is confident (stops there); else empty. */
  readonly #confident: boolean[][];
  /** Per stage: sources not finished yet. */
  readonly #waiting: number[];
  /** Calls not answered yet: what drops each. */
  readonly #open = new Set<() => void>();
  /** The cascade level's model that failed over most recently: blamed when the query then runs out of time. */
  #failedOver: string | null = null;
  #ended = false;

  constructor(host: QueryHost, arrivalMs: number, sloMs: number, fallthroughPrng: Prng) {
    this.#host = host;
    this.arrivalMs = arrivalMs;
    this.endMs = arrivalMs + runSpanMs(sloMs);
    // One draw per level, always: the stream stays aligned across configurations.
    this.#confident = host.graph.stages.map((s) => s.fallthrough.map((share) => fallthroughPrng.next() >= share));
    this.#waiting = host.graph.stages.map((s) => s.sources.length);
  }

  start(): void {
    this.#host.graph.stages.forEach((s, i) => {
      if (s.sources.length === 0) this.#runStage(i);
    });
  }

  #remainingMs(): number {
    return this.endMs - this.#host.nowMs();
  }

  #runStage(i: number): void {
    if (this.#ended) return;
    const stage = this.#host.graph.stages[i]!;
    switch (stage.spec.kind) {
      case 'combine':
        return this.#stageDone(i);
      case 'model':
      case 'ensemble': {
        const budgetMs = stageBudgetMs(
          this.#remainingMs(),
          stage.callWeights[0]!,
          stage.aheadInStage[0]! + stage.aheadAfter,
          stage.fixedMs,
        );
        return this.#runParallel(i, this.#host.nowMs() + budgetMs);
      }
      default: {
        const stageEndMs = stage.fixedMs === null ? null : this.#host.nowMs() + Math.min(this.#remainingMs(), stage.fixedMs);
        return this.#runChain(i, 0, stageEndMs);
      }
    }
  }

  /** Every model of the stage at once, all due at `dueMs`; done when all have answered. */
  #runParallel(i: number, dueMs: number): void {
    const stage = this.#host.graph.stages[i]!;
    let left = stage.models.length;
    for (const model of stage.models) {
      if (this.#ended) return;
      this.#call(
        model,
        dueMs,
        () => {
          if (--left === 0) this.#stageDone(i);
        },
        null,
      );
    }
  }

  /**
   * Model k of a cascade or map stage. Its budget: a share of the time left before the query's
   * deadline by its weight against those still ahead (the rest of the stage and the stages after), or,
   * in a stage with a fixed budget, a share of the time left in the stage against the rest of the stage.
   */
  #runChain(i: number, k: number, stageEndMs: number | null): void {
    const stage = this.#host.graph.stages[i]!;
    const now = this.#host.nowMs();
    const budgetMs =
      stageEndMs === null
        ? stageBudgetMs(this.#remainingMs(), stage.callWeights[k]!, stage.aheadInStage[k]! + stage.aheadAfter, null)
        : stageBudgetMs(stageEndMs - now, stage.callWeights[k]!, stage.aheadInStage[k]!, null);
    const lastLevel = k === stage.models.length - 1;
    const cascade = stage.spec.kind === 'cascade';
    const next = (): void => this.#runChain(i, k + 1, stageEndMs);
    const failover =
      cascade && !lastLevel
        ? (): void => {
            this.#failedOver = stage.models[k]!;
            next();
          }
        : null;
    this.#call(
      stage.models[k]!,
      now + budgetMs,
      () => {
        if (lastLevel || (cascade && this.#confident[i]![k]!)) this.#stageDone(i);
        else next();
      },
      failover,
    );
  }

  /**
   * One model call due at `dueMs`: `answered` runs when it is answered in time. A call dropped, or
   * answered late, fails the query, or with `failover` (a cascade level but the last) runs that
   * instead, at the latest when its budget ends (the executor's deadline watch answers it then). A
   * budget under the executor's minimum is not submitted: the call fails at once, as there
   * (kCallBudgetMsMin), blaming the level that failed over before it if any.
   */
  #call(model: string, dueMs: number, answered: () => void, failover: (() => void) | null): void {
    const now = this.#host.nowMs();
    if (dueMs - now < kCallBudgetMsMin) return this.#fail(this.#failedOver ?? model, now);
    let drop: (() => void) | null = null;
    let unwatch: (() => void) | null = null;
    let settled = false;
    /** The call's outcome is taken once: true the first time. */
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      if (drop !== null) this.#open.delete(drop);
      unwatch?.();
      return true;
    };
    const failed = (atMs: number): void => (failover === null ? this.#fail(model, atMs) : failover());
    const cancel = this.#host.call(model, dueMs, (end) => {
      if (!settle() || this.#ended) return;
      if (!end.ok || end.atMs > dueMs) return failed(end.atMs);
      answered();
    });
    if (settled) return;
    drop = cancel;
    this.#open.add(cancel);
    if (failover === null) return;
    unwatch = this.#host.at(dueMs, () => {
      unwatch = null;
      if (!settle() || this.#ended) return;
      cancel();
      failover();
    });
  }

  #stageDone(i: number): void {
    const graph = this.#host.graph;
    if (i === graph.outputIndex) {
      this.#ended = true;
      return this.#host.finish(this, this.#host.nowMs(), null);
    }
    for (const c of graph.stages[i]!.consumers) {
      if (--this.#waiting[c]! === 0) this.#runStage(c);
    }
  }

  /** The query takes its fallback: its calls still queued are dropped, as the executor cancels them. */
  #fail(model: string, atMs: number): void {
    this.#ended = true;
    this.#host.finish(this, atMs, model);
    const open = [...this.#open];
    this.#open.clear();
    for (const cancel of open) cancel();
  }
}
