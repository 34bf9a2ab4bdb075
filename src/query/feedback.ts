// Feedback (POST /<app>/update and the WebSocket `update` message): Clipper's body
// {"uid"?, "input", "label"} trains the app's selection policy.
//
//   1. validated by the protocol's codec (errors as in predict)
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

import assert from 'node:assert/strict';
import { computeLosses } from '../selection/policies/loss_fn.js';
import type { AppSelection } from '../selection/app_selection.js';
import type { Answer, QuerySink } from './answer.js';
import type { AppRoute } from './app_route.js';
import type { QueryInput, QueryProcessor } from './query_processor.js';
import { memberRoute } from './selection_route.js';

/** One feedback, whatever protocol it came in (validated by the codec against the app's input type). */
export interface FeedbackRequest {
  readonly input: QueryInput;
  readonly label: unknown;
  readonly uid: string | null;
}

export interface FeedbackAnswer {
  queryId: number;
  /** Scored models and their losses (null: no prediction); empty when nothing was learned. */
  models: string[];
  losses: Array<number | null>;
}

/**
 * Where feedback's losses go to train the app's policy; resolves once it has learned from them. The
 * main thread's SelectionHub is one; a frontend thread's relay to it (frontend_thread/thread_selection.ts)
 * another.
 */
export interface FeedbackPort {
  feedback(sel: AppSelection, uid: string | null, losses: Float64Array, chosen: number | null): Promise<void>;
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

  onAnswer(index: number, answer: Answer): void {
    if (this.#remaining <= 0) assert.fail('one answer per scored model');
    if (!answer.isDefault) {
      try {
        this.outputs[index] = JSON.parse(answer.outputJson);
      } catch {
        this.outputs[index] = answer.outputJson;
      }
    }
    if (--this.#remaining === 0) this.#done();
  }
}

/**
 * Trains the app's policy with one feedback; the promise resolves with the answer once the worker
 * has learned (at once for an app whose policy does not learn).
 */
export function applyFeedback(
  processor: QueryProcessor,
  hub: FeedbackPort | null,
  route: AppRoute,
  request: FeedbackRequest,
): Promise<FeedbackAnswer> {
  const { input, label, uid } = request;
  const queryId = processor.nextQueryId();
  const sel = route.selection ?? null;
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
    for (const i of asked) processor.submit(member, sel.placements[i] ?? null, input, route.sloMs, 0, sink, i); // normal priority
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
