// Submitting one query of an app through its selection policy (the query pipeline's unpinned path).
//
//   no selection (one linked model) → the existing path, unchanged
//   mode 'one' → sample a model from the snapshot, submit to it; the answer adds "models":["<name>"]
//   mode 'all' (exp4) → submit to every linked model with a CombiningSink that answers once all have
//                answered or the deadline passed (each sub-query is answered by its deadline at the
//                latest), combining what arrived with the snapshot weights (selection/policies/combine.ts).
//                The answer adds "models" (the contributors) and "confidence". Nothing arrived, or
//                confidence below the app's confidenceMin → the default output.
//
// Sub-queries of an Exp4 query get a slightly shorter SLO (combineSloMs) so that the combined
// answer, made when the last of them is answered, still leaves within the query's SLO.

import assert from 'node:assert/strict';
import { runSpanMs } from '../deadline_split.js';
import { combine, roundConfidence, type CombineOptions } from '../selection/policies/combine.js';
import type { AppSelection } from '../selection/app_selection.js';
import type { Answer, AnswerExtra, QuerySink } from './answer.js';
import { DefaultKind, type AppRoute } from './app_route.js';
import { kExplainNothingArrived, kExplainQueueFull } from './explanations.js';
import type { QueryInput, QueryProcessor } from './query_processor.js';

/** An Exp4 sub-query's SLO: the query's less min(5 ms, 25% of it), kept for combining and timer lateness (runSpanMs). */
export function combineSloMs(sloMs: number): number {
  return runSpanMs(sloMs);
}

/**
 * Per selection, a route for sub-queries: the app's route with stats of its own (a sub-query is not
 * one of the app's answers), but its cache lookups and hits counted as the app's, so an Exp4 app's
 * cache hit ratio is its sub-queries'.
 */
const memberRoutes = new WeakMap<AppSelection, AppRoute>();

export function memberRoute(route: AppRoute, sel: AppSelection): AppRoute {
  let member = memberRoutes.get(sel);
  if (
    member === undefined ||
    member.defaultJson !== route.defaultJson ||
    member.typeCode !== route.typeCode ||
    member.cacheStats !== route.stats
  ) {
    member = { ...route, stats: sel.memberStats, cacheStats: route.stats };
    memberRoutes.set(sel, member);
  }
  return member;
}

/**
 * Submit one query of `route` through its selection policy (every sub-query at `priority`, its
 * deadline from `arrivalMs`, the request's arrival; default now). Tokens of what went to workers are
 * appended to `tokens` (for cancel on disconnect).
 */
export function submitSelected(
  processor: QueryProcessor,
  route: AppRoute,
  uid: string | null,
  input: QueryInput,
  sloMs: number,
  priority: number,
  sink: QuerySink,
  index: number,
  tokens: number[],
  arrivalMs?: number,
): void {
  const sel = route.selection ?? null;
  if (sel === null) {
    const token = processor.submit(route, route.placement, input, sloMs, priority, sink, index, null, arrivalMs);
    if (token >= 0) tokens.push(token);
    return;
  }
  if (sel.mode === 'one') {
    const i = sel.pick(uid);
    const token =
      i < 0
        ? processor.submit(route, null, input, sloMs, priority, sink, index, null, arrivalMs)
        : processor.submit(route, sel.placements[i] ?? null, input, sloMs, priority, sink, index, sel.modelExtras[i] ?? null, arrivalMs);
    if (token >= 0) tokens.push(token);
    return;
  }
  const params = sel.config.policy === 'exp4' ? sel.config.params : null;
  const options: CombineOptions = {
    mode: params?.combine ?? 'auto',
    tolerance: params?.tolerance ?? 0,
    confidenceMin: params?.confidenceMin ?? 0,
  };
  const combining = new CombiningSink(processor, route, sel, sel.weights(uid), options, sink, index, processor.nextQueryId(), arrivalMs);
  const member = memberRoute(route, sel);
  const subSloMs = combineSloMs(sloMs);
  for (let i = 0; i < sel.modelCount; i++) {
    const token = processor.submit(member, sel.placements[i] ?? null, input, subSloMs, priority, combining, i, null, arrivalMs);
    if (token >= 0) tokens.push(token);
  }
}

/** Collects the per-model answers of one Exp4 query and answers the client once. */
export class CombiningSink implements QuerySink {
  readonly #processor: QueryProcessor;
  readonly #route: AppRoute;
  readonly #sel: AppSelection;
  readonly #weights: Float64Array;
  readonly #options: CombineOptions;
  readonly #outer: QuerySink;
  readonly #outerIndex: number;
  readonly #queryId: number;
  readonly #startMs: number;
  readonly #outputs: unknown[];
  #remaining: number;
  #shedCount = 0;

  constructor(
    processor: QueryProcessor,
    route: AppRoute,
    sel: AppSelection,
    weights: Float64Array,
    options: CombineOptions,
    outer: QuerySink,
    outerIndex: number,
    queryId: number,
    arrivalMs?: number,
  ) {
    this.#processor = processor;
    this.#route = route;
    this.#sel = sel;
    this.#weights = weights;
    this.#options = options;
    this.#outer = outer;
    this.#outerIndex = outerIndex;
    this.#queryId = queryId;
    this.#startMs = arrivalMs ?? processor.clock.nowMs();
    this.#outputs = new Array<unknown>(sel.modelCount);
    this.#remaining = sel.modelCount;
  }

  onAnswer(index: number, answer: Answer): void {
    if (this.#remaining <= 0) assert.fail('a combining sink gets one answer per linked model');
    if (answer.isDefault) {
      if (answer.shed) this.#shedCount++;
    } else {
      try {
        this.#outputs[index] = JSON.parse(answer.outputJson);
      } catch {
        this.#outputs[index] = answer.outputJson;
      }
    }
    if (--this.#remaining === 0) this.#finish();
  }

  #finish(): void {
    const result = combine(this.#outputs, this.#weights, this.#options);
    const names = result.contributors.map((i) => this.#sel.models[i]!);
    const confidence = roundConfidence(result.confidence);
    const extra: AnswerExtra = { models: names, confidence };
    const latencyMs = this.#processor.clock.nowMs() - this.#startMs;
    if (result.kind === 'combined') {
      this.#processor.countCombined(this.#route, latencyMs, -1, false);
      this.#outer.onAnswer(this.#outerIndex, {
        queryId: this.#queryId,
        outputJson: JSON.stringify(result.output),
        isDefault: false,
        explanation: null,
        shed: false,
        extra,
      });
      return;
    }
    const nothing = result.reason === 'nothing_arrived';
    const allShed = nothing && this.#shedCount === this.#sel.modelCount;
    const explanation = !nothing
      ? `The combined confidence ${confidence} is below the application's minimum ${this.#options.confidenceMin}`
      : allShed
        ? kExplainQueueFull
        : kExplainNothingArrived;
    const kind = allShed
      ? DefaultKind.Shed
      : !nothing
        ? DefaultKind.LowConfidence
        : latencyMs >= combineSloMs(this.#route.sloMs)
          ? DefaultKind.Slo
          : DefaultKind.NoAnswer;
    this.#processor.countCombined(this.#route, latencyMs, kind, allShed);
    this.#outer.onAnswer(this.#outerIndex, {
      queryId: this.#queryId,
      outputJson: this.#route.defaultJson,
      isDefault: true,
      explanation,
      shed: allShed,
      extra,
    });
  }
}
