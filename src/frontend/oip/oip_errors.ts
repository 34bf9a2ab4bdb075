// The Open Inference Protocol's errors: its body is `{"error": "<message>"}` (the message names the
// field or the cause); the status and headers come from the error registry (errors.ts) through the
// one error → reply mapping (http/reply.ts). And what a default answer becomes: the protocol has no
// default output, so a query answered with the app's default is an error of the whole request.
//
//   deadline passed, unreachable, or no linked model answered in time → 504
//   timeout shorter than the model's latency for one query (at once)  → 504
//   shed by an overloaded model queue                                → 429 (Retry-After)
//   no model deployed / no connected replica, replica failed, shutdown → 503
//   the model raised (or answered wrongly)                            → 500

import type { HttpResponse } from 'uWebSockets.js';
import { asClipperError, ClipperError } from '../../errors.js';
import { sendReply, type ResponseState } from '../../http/http_util.js';
import { errorReply, type HttpReply } from '../../http/reply.js';
import type { Answer } from '../../query/answer.js';
import {
  kExplainDeadlineUnreachable,
  kExplainModelErrorPrefix,
  kExplainNoModel,
  kExplainNothingArrived,
  kExplainReplicaFailedPrefix,
  kExplainShutdown,
  kExplainSlo,
  kExplainSloInfeasible,
} from '../../query/explanations.js';

/** A 400 for a request the protocol does not admit; `message` names the field. */
export function oipInvalid(message: string): ClipperError {
  return new ClipperError('CLP_ERR_OIP_INVALID', message);
}

/** A 404: no app or model of that name, or no such version. */
export function oipNotFound(message: string): ClipperError {
  return new ClipperError('CLP_ERR_OIP_MODEL_NOT_FOUND', message);
}

export function oipErrorBody(err: ClipperError): string {
  return JSON.stringify({ error: err.message });
}

/** Any error as the protocol's reply: the registry's status and headers, the protocol's body. */
export function oipErrorReply(err: unknown): HttpReply {
  const e = asClipperError(err);
  const reply = errorReply(e);
  return {
    status: reply.status,
    contentType: reply.contentType,
    body: oipErrorBody(e),
    ...(reply.headers ? { headers: reply.headers } : {}),
  };
}

export function sendOipError(res: HttpResponse, state: ResponseState, err: unknown): void {
  sendReply(res, state, oipErrorReply(err));
}

/**
 * The error a request gets when `failed` of its `count` queries were answered with the default
 * output; `answer` is the first of them (by row). `timeoutMicros` is the deadline the request had.
 */
export function defaultAnswerError(answer: Answer, failed: number, count: number, timeoutMicros: number): ClipperError {
  const why = answer.explanation ?? 'no output';
  const of = count > 1 ? ` (${failed} of the request's ${count} rows failed)` : '';
  if (why === kExplainSloInfeasible) {
    // Answered at arrival, not at the deadline: the model is slower than the timeout even when idle.
    return new ClipperError(
      'CLP_ERR_OIP_TIMEOUT',
      `the model cannot answer within the request's timeout (${timeoutMicros} microseconds)${of}: ${why}; parameters.timeout (microseconds) sets a longer one`,
    );
  }
  if (why === kExplainSlo || why === kExplainDeadlineUnreachable || why === kExplainNothingArrived) {
    return new ClipperError(
      'CLP_ERR_OIP_TIMEOUT',
      `the request's deadline (${timeoutMicros} microseconds) passed before the model answered${of}: ${why}; parameters.timeout (microseconds) sets a longer one`,
    );
  }
  if (answer.shed) {
    return new ClipperError('CLP_ERR_SHED', `the model is overloaded${of}: ${why}; retry later`, { retryAfterS: 1 });
  }
  if (why === kExplainNoModel || why === kExplainShutdown || why.startsWith(kExplainReplicaFailedPrefix)) {
    return new ClipperError('CLP_ERR_OIP_UNAVAILABLE', `the model cannot serve now${of}: ${why}`);
  }
  const detail = why.startsWith(kExplainModelErrorPrefix) ? why.slice(kExplainModelErrorPrefix.length) : why;
  return new ClipperError('CLP_ERR_OIP_MODEL_FAILED', `the model failed${of}: ${detail}`);
}
