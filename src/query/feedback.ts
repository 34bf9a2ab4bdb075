// Feedback (POST /<app>/update and the WebSocket `update` message): Clipper's body
// {"uid"?, "input", "label"} trains the app's selection policy.
//
//   1. validate (errors as in predict)
//   2. which models to score: mode 'one' policies sample one model from the same probabilities the
//      query path uses (bandit feedback: Exp3's importance weighting needs that model's probability);
//      exp4 scores every linked model
//   3. their predictions for the input: from the prediction cache when a predict already computed
//      them, else by querying the models (QueryProcessor.submit does both), within the app's SLO
//   4. losses in [0, 1] with the app's loss function (absolute or zero_one; NaN = no prediction)
//   5. the selection worker learns from them; the answer is sent once it has
//
// Apps with one linked model, or whose policy does not learn (default, weighted_split), only
// validate and acknowledge, as Clipper did.

import { ClipperError } from '../errors.js';
import type { InputType } from '../input_types.js';
import { computeLosses } from '../selection/policies/loss_fn.js';
import { validateInput } from '../frontend/predict_request.js';
import type { AppRoute, QueryProcessor, QuerySink } from './query_processor.js';
import type { SelectionHub } from '../selection/selection_hub.js';
import { memberRoute } from './selection_route.js';

export interface FeedbackDeps {
  processor: QueryProcessor;
  inputTypeOf(route: AppRoute): InputType;
  /** Null when the cluster runs no selection worker (then feedback is only acknowledged). */
  hub: SelectionHub | null;
}

export interface FeedbackAnswer {
  queryId: number;
  /** Scored models and their losses (null: no prediction); empty when nothing was learned. */
  models: string[];
  losses: Array<number | null>;
}

interface ParsedFeedback {
  input: number[] | string | Buffer;
  label: unknown;
  uid: string | null;
}

export function parseFeedback(json: Record<string, unknown>, inputType: InputType): ParsedFeedback {
  if (json.input === undefined) throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'Error parsing JSON: the update has no "input"');
  const input = validateInput(json.input, inputType, 'input');
  if (json.label === undefined) throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'Error parsing JSON: the update has no "label"');
  let uid: string | null = null;
  if (json.uid !== undefined && json.uid !== null) {
    if (typeof json.uid === 'string') uid = json.uid;
    else if (typeof json.uid === 'number' && Number.isInteger(json.uid)) uid = String(json.uid);
    else throw new ClipperError('CLP_ERR_JSON_SCHEMA', 'Error parsing JSON: uid must be a string or an integer');
  }
  return { input, label: json.label, uid };
}

/** Collects the predictions of the scored models. */
class PredictionSink implements QuerySink {
  readonly outputs: unknown[];
  #remaining: number;
  readonly #done: () => void;

  constructor(count: number, expected: number, done: () => void) {
    this.outputs = new Array<unknown>(count);
    this.#remaining = expected;
    this.#done = done;
  }

  onAnswer(index: number, _queryId: number, outputJson: string, isDefault: boolean): void {
    if (!isDefault) {
      try {
        this.outputs[index] = JSON.parse(outputJson);
      } catch {
        this.outputs[index] = outputJson;
      }
    }
    if (--this.#remaining === 0) this.#done();
  }
}

/**
 * Validates (synchronously: throws ClipperError) and then trains the app's policy; the promise
 * resolves with the answer once the worker has learned.
 */
export function applyFeedback(deps: FeedbackDeps, route: AppRoute, json: Record<string, unknown>): Promise<FeedbackAnswer> {
  const { input, label, uid } = parseFeedback(json, deps.inputTypeOf(route));
  const queryId = deps.processor.nextQueryId();
  const sel = route.selection ?? null;
  const hub = deps.hub;
  if (sel === null || hub === null || !sel.learns) return Promise.resolve({ queryId, models: [], losses: [] });
  const asked: number[] = [];
  let chosen: number | null = null;
  if (sel.mode === 'one') {
    chosen = sel.pick(uid);
    if (chosen >= 0) asked.push(chosen);
    else chosen = null;
  } else {
    for (let i = 0; i < sel.modelCount; i++) asked.push(i);
  }
  if (asked.length === 0) return Promise.resolve({ queryId, models: [], losses: [] });
  const member = memberRoute(route, sel);
  return new Promise<unknown[]>((resolve) => {
    const sink = new PredictionSink(sel.modelCount, asked.length, () => resolve(sink.outputs));
    for (const i of asked) deps.processor.submit(member, sel.placements[i] ?? null, input, route.sloMs, sink, i);
  }).then(async (outputs) => {
    const losses = computeLosses(outputs, label, sel.lossFn);
    await hub.feedback(sel, uid, losses, chosen);
    const models: string[] = [];
    const lossList: Array<number | null> = [];
    for (const i of asked) {
      models.push(sel.models[i]!);
      lossList.push(Number.isNaN(losses[i]!) ? null : losses[i]!);
    }
    return { queryId, models, losses: lossList };
  });
}

/** The answer's JSON fields after `{` (Clipper's keys first), without the closing brace. */
export function feedbackFields(answer: FeedbackAnswer): string {
  const extra = answer.models.length === 0 ? '' : `,"models":${JSON.stringify(answer.models)},"losses":${JSON.stringify(answer.losses)}`;
  return `"query_id":${answer.queryId},"feedback_received":true${extra}`;
}
