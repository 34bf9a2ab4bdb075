// The one place answers are encoded for the wire: Clipper's JSON object (HTTP bodies, WebSocket
// text frames) and the map a WebSocket binary frame packs with msgpack.
//
//   {"query_id":Q,"output":O,"default":false[,"models":[..][,"confidence":C]]}
//   {"query_id":Q,"output":O,"default":true[,"default_explanation":E][,"models":[..][,"confidence":C]]}
//   a pipeline's best-so-far answer adds ,"fallback":F after "models" (docs/pipelines.md)
//
// An AnswerExtra without confidence is built once per model (query/answer.ts), so its JSON is
// memoized per object: a selection answer does not stringify its model name per query. Exp4 builds
// one extra per query (with confidence): memoizing it would be a WeakMap entry per answer for a
// string used once, so it is encoded each time.

import type { Answer, AnswerExtra } from '../query/answer.js';
import type { FeedbackAnswer } from '../query/feedback.js';

const extraJsonOf = new WeakMap<AnswerExtra, string>();

/** The extra fields as a JSON fragment starting with ',' (memoized per AnswerExtra object without confidence or fallback). */
export function extraJson(extra: AnswerExtra): string {
  if (extra.fallback !== undefined) {
    const confidence = extra.confidence === undefined ? '' : `,"confidence":${extra.confidence}`;
    return `,"models":${JSON.stringify(extra.models)}${confidence},"fallback":${JSON.stringify(extra.fallback)}`;
  }
  if (extra.confidence !== undefined) return `,"models":${JSON.stringify(extra.models)},"confidence":${extra.confidence}`;
  let json = extraJsonOf.get(extra);
  if (json === undefined) {
    json = `,"models":${JSON.stringify(extra.models)}`;
    extraJsonOf.set(extra, json);
  }
  return json;
}

/**
 * The answer as Clipper's JSON object. `open` is what comes before Clipper's keys: '{' for a plain
 * object, or e.g. `{"id":7,` for a stream answer that carries the client's id first.
 */
export function answerJson(answer: Answer, open = '{'): string {
  const extra = answer.extra === null ? '' : extraJson(answer.extra);
  if (!answer.isDefault) return `${open}"query_id":${answer.queryId},"output":${answer.outputJson},"default":false${extra}}`;
  const explanation = answer.explanation === null ? '' : `,"default_explanation":${JSON.stringify(answer.explanation)}`;
  return `${open}"query_id":${answer.queryId},"output":${answer.outputJson},"default":true${explanation}${extra}}`;
}

/** The answer as the map a binary (msgpack) frame carries, the client's id first when given. */
export function answerMap(answer: Answer, id: unknown): Record<string, unknown> {
  const map: Record<string, unknown> =
    id === undefined
      ? { query_id: answer.queryId, output: JSON.parse(answer.outputJson), default: answer.isDefault }
      : { id, query_id: answer.queryId, output: JSON.parse(answer.outputJson), default: answer.isDefault };
  if (answer.isDefault && answer.explanation !== null) map.default_explanation = answer.explanation;
  const extra = answer.extra;
  if (extra !== null) {
    map.models = extra.models;
    if (extra.confidence !== undefined) map.confidence = extra.confidence;
    if (extra.fallback !== undefined) map.fallback = extra.fallback;
  }
  return map;
}

/** A feedback answer as JSON (`open` as in answerJson). */
export function feedbackJson(answer: FeedbackAnswer, open = '{'): string {
  const extra = answer.models.length === 0 ? '' : `,"models":${JSON.stringify(answer.models)},"losses":${JSON.stringify(answer.losses)}`;
  return `${open}"query_id":${answer.queryId},"feedback_received":true${extra}}`;
}

/** A feedback answer as a msgpack map, the client's id first when given. */
export function feedbackMap(answer: FeedbackAnswer, id: unknown): Record<string, unknown> {
  const map: Record<string, unknown> =
    id === undefined ? { query_id: answer.queryId, feedback_received: true } : { id, query_id: answer.queryId, feedback_received: true };
  if (answer.models.length > 0) {
    map.models = answer.models;
    map.losses = answer.losses;
  }
  return map;
}
