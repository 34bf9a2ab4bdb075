// What a pipeline stage does once the sub-queries it waited on are answered (stage_run.ts calls it):
//
//   model     its model's answer is the stage's output
//   map       the featurizer's answer becomes the predictor's input; the predictor's answer the output
//   cascade   a level's answer is kept when its confidence reaches the threshold (the last level's
//             always); else it falls through to the next model (counted per level). A level that
//             gives no answer (late, shed, an error) fails over to the next model while time is
//             left (counted apart: failovers); the last level failing, or no time left, fails it
//   ensemble  the members' answers combined (selection/policies/combine.ts), per `field` if set
//   combine   the outputs of the stages it reads, combined alike
//
// A failure (a default answer, a call that could not go) fails the stage (a cascade's: once no next
// level can be asked), except that with fallback 'best_so_far' a cascade answers with its most confident answer so far and an ensemble or a combine
// with what arrived: the output then carries a "fallback" note naming the stage and why.

import { combinedOutput, fieldOf, StageFeedError } from '../pipeline_output.js';
import { outputConfidence } from '../pipeline_spec.js';
import { combine, type CombineOptions } from '../selection/policies/combine.js';
import type { CombineMode } from '../selection/policies/params.js';
import type { Answer, AnswerExtra } from './answer.js';
import { DefaultKind } from './app_route.js';
import { kQueryInput, type CompiledPipeline, type CompiledStage } from './stage_graph.js';
import type { StageRun } from './stage_run.js';
import { defaultKindOfAnswer } from './stage_feed.js';

/** A stage's output not yet parsed (StageResult.value). */
export const kUnparsed: unique symbol = Symbol('unparsed');

export const StageState = { Waiting: 0, Running: 1, Done: 2, Absent: 3 } as const;

export interface StageResult {
  readonly json: string;
  /** The parsed output, or kUnparsed until a reader needs it. */
  value: unknown;
  /** The models whose outputs made it, through the stages it read. */
  readonly models: readonly string[];
  /** Why it is a best-so-far output (naming the stage), or null. */
  readonly fallback: string | null;
}

export interface StageFailure {
  /** Why, naming the model or stage. */
  readonly why: string;
  readonly kind: DefaultKind;
  /** Shed by an overloaded model queue (an app may answer 429). */
  readonly shed: boolean;
}

const kCombineOptions: Readonly<Record<CombineMode, CombineOptions>> = {
  auto: { mode: 'auto', tolerance: 0, confidenceMin: 0 },
  mean: { mode: 'mean', tolerance: 0, confidenceMin: 0 },
  vote: { mode: 'vote', tolerance: 0, confidenceMin: 0 },
};

const kNoUpstream = { models: [] as readonly string[], fallback: null };
/** Distinct lists of models whose answer extras a pipeline keeps (encoded once each). */
const kExtrasMax = 64;

/** The stage `s` of `run` has every sub-query it waited on answered: take the next step. */
export function continueStage(run: StageRun, s: number): void {
  const st = run.pipeline.stages[s]!;
  switch (st.kind) {
    case 'model':
      return single(run, st, 0);
    case 'map':
      return mapStep(run, st);
    case 'cascade':
      return cascadeStep(run, st);
    case 'ensemble':
      return ensembleStep(run, st);
    case 'combine':
      return combineStep(run, st);
  }
}

function isOk(a: Answer | StageFailure | undefined): a is Answer {
  return a !== undefined && !('why' in a) && !a.isDefault;
}

/** Why call `k` of the stage failed (a default answer, or why it was never submitted). */
export function failureOf(st: CompiledStage, k: number, a: Answer | StageFailure | undefined): StageFailure {
  if (a !== undefined && 'why' in a) return a;
  const model = st.calls[k]!.model;
  if (a === undefined) return { why: `model '${model}' was not called`, kind: DefaultKind.Other, shed: false };
  return { why: `model '${model}' gave no answer: ${a.explanation ?? 'the default output'}`, kind: defaultKindOfAnswer(a), shed: a.shed };
}

/** The output the stage reads (its one input): its models and fallback note. */
function upstream(run: StageRun, st: CompiledStage): { models: readonly string[]; fallback: string | null } {
  const src = st.inputs[0]!;
  return src === kQueryInput ? kNoUpstream : run.results[src]!;
}

/**
 * Joined lists of models, interned: joined.get(base).get(more). The lists joined are the compiled ones
 * (a stage's, a call's) and lists interned here, so each run of a pipeline gets the same array for
 * the same models and answerExtraOf finds its extra by identity; weak keys go with the pipeline.
 */
const joined = new WeakMap<readonly string[], Map<readonly string[], readonly string[]>>();

/** `base` then `more`, each model once (the same array for the same two lists). */
function joinModels(base: readonly string[], more: readonly string[]): readonly string[] {
  if (base.length === 0) return more;
  let byMore = joined.get(base);
  if (byMore === undefined) {
    byMore = new Map();
    joined.set(base, byMore);
  }
  let out = byMore.get(more);
  if (out === undefined) {
    const list = [...base];
    for (const m of more) if (!list.includes(m)) list.push(m);
    out = list;
    byMore.set(more, out);
  }
  return out;
}

/** Call `k`'s answer is the stage's output (model; map's predictor). */
function single(run: StageRun, st: CompiledStage, k: number): void {
  const a = run.answers[st.callBase + k];
  if (!isOk(a)) return run.fail(st.index, failureOf(st, k, a));
  const up = upstream(run, st);
  run.resolve(st.index, { json: a.outputJson, value: kUnparsed, models: joinModels(up.models, st.models), fallback: up.fallback });
}

function mapStep(run: StageRun, st: CompiledStage): void {
  const s = st.index;
  if (run.step[s] === 1) return single(run, st, 1);
  const g = st.callBase;
  const a = run.answers[g];
  if (!isOk(a)) return run.fail(s, failureOf(st, 0, a));
  run.step[s] = 1;
  const predictor = st.calls[1]!;
  let input: ReturnType<StageRun['feed']>;
  try {
    input = run.feed(run.callValue(g), a.outputJson, predictor);
  } catch (err) {
    if (!(err instanceof StageFeedError)) throw err;
    const why = `the output of featurizer '${st.calls[0]!.model}' does not fit model '${predictor.model}': ${err.message}`;
    return run.fail(s, { why, kind: DefaultKind.Other, shed: false });
  }
  run.call(s, 1, input);
}

/** Level `k`'s answer as the cascade's output. */
function levelResult(run: StageRun, st: CompiledStage, k: number): StageResult {
  const g = st.callBase + k;
  const up = upstream(run, st);
  const json = (run.answers[g] as Answer).outputJson;
  return { json, value: run.callValue(g), models: joinModels(up.models, st.calls[k]!.self), fallback: up.fallback };
}

function cascadeStep(run: StageRun, st: CompiledStage): void {
  const s = st.index;
  const k = run.step[s]!;
  const g = st.callBase + k;
  const a = run.answers[g];
  const last = k === st.calls.length - 1;
  if (!isOk(a)) {
    // No answer from this level: the next (more accurate) model is asked while time is left.
    if (last || !run.canCall(s, k + 1)) return cascadeFailed(run, st, k, failureOf(st, k, a));
    st.stats.failovers![k]!++;
  } else if (last || outputConfidence(run.callValue(g), st.confidenceField) >= st.threshold) {
    return run.resolve(s, levelResult(run, st, k));
  } else {
    st.stats.fallthrough![k]!++;
  }
  run.step[s] = k + 1;
  run.call(s, k + 1);
}

/** Level `k` failed with no next level to ask: the most confident answer of an earlier level, else the stage fails. */
function cascadeFailed(run: StageRun, st: CompiledStage, k: number, failure: StageFailure): void {
  let best = -1;
  let bestConfidence = -Infinity;
  for (let j = 0; j < k; j++) {
    if (!isOk(run.answers[st.callBase + j])) continue; // a level that failed over
    const c = outputConfidence(run.callValue(st.callBase + j), st.confidenceField);
    if (c > bestConfidence) {
      best = j;
      bestConfidence = c;
    }
  }
  if (best < 0) return run.fail(st.index, failure);
  const how = `answered with the best so far, from model '${st.calls[best]!.model}'`;
  degrade(run, st, levelResult(run, st, best), failure, `stage '${st.name}': ${failure.why}; ${how}`);
}

function ensembleStep(run: StageRun, st: CompiledStage): void {
  const n = st.calls.length;
  const outputs = new Array<unknown>(n);
  let failure: StageFailure | null = null;
  for (let k = 0; k < n; k++) {
    const g = st.callBase + k;
    const a = run.answers[g];
    if (isOk(a)) outputs[k] = fieldOf(run.callValue(g), st.field);
    else failure ??= failureOf(st, k, a);
  }
  const up = upstream(run, st);
  const note = failure === null ? '' : `stage '${st.name}': ${failure.why}; combined the answers that arrived`;
  combineInto(run, st, outputs, (j) => st.calls[j]!.self, up, failure, note);
}

function combineStep(run: StageRun, st: CompiledStage): void {
  const outputs = new Array<unknown>(st.inputs.length);
  let failure: StageFailure | null = null;
  let fallback: string | null = null;
  for (let j = 0; j < st.inputs.length; j++) {
    const i = st.inputs[j]!;
    if (i === kQueryInput) continue; // validation refuses it: a combine reads stages
    const r = run.results[i];
    if (r === undefined) failure ??= run.failures[i] ?? null;
    else {
      outputs[j] = fieldOf(run.resultValue(i), st.field);
      fallback ??= r.fallback;
    }
  }
  const note = failure === null ? '' : `${failure.why}; stage '${st.name}' combined the inputs that arrived`;
  combineInto(run, st, outputs, (j) => run.results[st.inputs[j]!]!.models, { models: kNoUpstream.models, fallback }, failure, note);
}

/**
 * Combine `outputs` (undefined: did not arrive) into the stage's output; `modelsOf(j)`: the models
 * behind output j. Nothing usable: the stage fails.
 */
function combineInto(
  run: StageRun,
  st: CompiledStage,
  outputs: unknown[],
  modelsOf: (j: number) => readonly string[],
  up: { models: readonly string[]; fallback: string | null },
  failure: StageFailure | null,
  note: string,
): void {
  if (failure !== null && run.pipeline.fallback === 'default') return run.fail(st.index, failure);
  const result = combine(outputs, st.weights, kCombineOptions[st.combine]);
  if (result.kind !== 'combined') {
    const field = st.field === null ? '' : ` (field '${st.field}')`;
    return run.fail(st.index, failure ?? { why: `no usable output to combine${field}`, kind: DefaultKind.Other, shed: false });
  }
  let models = up.models;
  for (const j of result.contributors) models = joinModels(models, modelsOf(j));
  const value = combinedOutput(result.output, result.confidence, st.field);
  const r: StageResult = { json: JSON.stringify(value), value, models, fallback: up.fallback };
  if (failure === null) run.resolve(st.index, r);
  else degrade(run, st, r, failure, note);
}

/** A best-so-far output (fallback 'best_so_far'): counted as the stage's fallback and noted in the answer. */
function degrade(run: StageRun, st: CompiledStage, result: StageResult, failure: StageFailure, note: string): void {
  if (run.pipeline.fallback === 'default') return run.fail(st.index, failure);
  st.stats.fallbacks++;
  run.resolve(st.index, { ...result, fallback: result.fallback ?? note });
}

/** The answer's extra fields: shared per list of models, or made for this answer when it has a fallback. */
export function answerExtraOf(pipeline: CompiledPipeline, result: StageResult): AnswerExtra {
  if (result.fallback !== null) return { models: result.models, fallback: result.fallback };
  // The lists are the compiled ones (a stage's, a call's) or joined ones interned by joinModels, so
  // each is found by identity without a join. The names joined key the extra too: a list made some
  // other way shares the extra of its names, and only the array the extra holds gets an identity
  // key, so the map keeps at most two entries per list of names, whatever arrays come.
  const extras = pipeline.extras;
  let extra = extras.get(result.models);
  if (extra !== undefined) return extra;
  const key = result.models.join('\n');
  extra = extras.get(key);
  if (extra === undefined) {
    extra = { models: result.models };
    if (extras.size < kExtrasMax) extras.set(key, extra);
  }
  if (extra.models === result.models && extras.size < kExtrasMax) extras.set(result.models, extra);
  return extra;
}
