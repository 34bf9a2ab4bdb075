// Collects the answers of one infer request (one query per row) and sends the response when all
// are in: the output tensor (infer_response.ts), or the protocol's error when any row was answered
// with a default (oip_errors.ts). If the client goes away first, its queries are cancelled.

import assert from 'node:assert/strict';
import type { HttpResponse } from 'uWebSockets.js';
import { sendBody, type AbortListener, type ResponseState } from '../../http/http_util.js';
import { kJsonType } from '../../http/reply.js';
import type { Answer } from '../../query/answer.js';
import type { QueryPipeline, RequestSink } from '../../query/pipeline.js';
import { kHeaderLengthHeader } from './binary_body.js';
import { encodeInferResponse, type ResponseHead } from './infer_response.js';
import { defaultAnswerError, sendOipError } from './oip_errors.js';

export const kOctetStreamType = 'application/octet-stream';

export class OipSink implements RequestSink, AbortListener {
  readonly #res: HttpResponse;
  readonly #state: ResponseState;
  readonly #pipeline: QueryPipeline;
  readonly #head: ResponseHead;
  /** The request's deadline, for the timeout error's message. */
  readonly #timeoutMicros: number;
  /** Ring tokens of this request's queries in workers (for cancel). */
  readonly tokens: number[] = [];
  #texts: string[] = [];
  #remaining = 0;
  #failed: Answer | null = null;
  #failedIndex = -1;
  #failedCount = 0;

  constructor(res: HttpResponse, state: ResponseState, pipeline: QueryPipeline, head: ResponseHead, timeoutMicros: number) {
    this.#res = res;
    this.#state = state;
    this.#pipeline = pipeline;
    this.#head = head;
    this.#timeoutMicros = timeoutMicros;
  }

  begin(count: number): void {
    this.#remaining = count;
    this.#texts = new Array<string>(count);
  }

  indexFor(i: number): number {
    return i;
  }

  submitted(): void {
    // The tokens went straight into this.tokens.
  }

  onAbort(): void {
    if (this.#remaining > 0 && this.tokens.length > 0) this.#pipeline.cancel(this.tokens);
  }

  onAnswer(index: number, answer: Answer): void {
    if (this.#remaining <= 0) assert.fail('an infer request gets no more answers than it has rows');
    if (answer.isDefault) {
      this.#failedCount++;
      if (this.#failed === null || index < this.#failedIndex) {
        this.#failed = answer;
        this.#failedIndex = index;
      }
    } else {
      this.#texts[index] = answer.outputJson;
    }
    if (--this.#remaining > 0) return;
    if (this.#failed !== null) {
      sendOipError(this.#res, this.#state, defaultAnswerError(this.#failed, this.#failedCount, this.#texts.length, this.#timeoutMicros));
      return;
    }
    sendInferResponse(this.#res, this.#state, this.#head, this.#texts);
  }
}

/** The response for the rows' outputs (all of them answered by the model). */
export function sendInferResponse(res: HttpResponse, state: ResponseState, head: ResponseHead, texts: readonly string[]): void {
  let encoded: ReturnType<typeof encodeInferResponse>;
  try {
    encoded = encodeInferResponse(head, texts);
  } catch (err) {
    sendOipError(res, state, err); // a bug, not the client's: a 500 rather than a throw into the query core
    return;
  }
  if (encoded.headerLength < 0) {
    sendBody(res, state, 200, kJsonType, encoded.body);
    return;
  }
  sendBody(res, state, 200, kOctetStreamType, encoded.body, { [kHeaderLengthHeader]: String(encoded.headerLength) });
}
