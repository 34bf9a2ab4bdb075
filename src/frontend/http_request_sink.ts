// What every HTTP codec's request sink shares: one request's answers collected by index until the
// last is in, its ring tokens kept for cancel when the client goes away. A codec says what it does
// with each answer (collect) and with the whole request once answered (finish).

import assert from 'node:assert/strict';
import type { HttpResponse } from 'uWebSockets.js';
import type { AbortListener, ResponseState } from '../http/http_util.js';
import type { Answer } from '../query/answer.js';
import type { QueryPipeline, RequestSink } from '../query/pipeline.js';

export abstract class HttpRequestSink implements RequestSink, AbortListener {
  protected readonly res: HttpResponse;
  protected readonly state: ResponseState;
  readonly #pipeline: QueryPipeline;
  /** Ring tokens of this request's queries in workers (for cancel). */
  readonly tokens: number[] = [];
  #remaining = 0;

  constructor(res: HttpResponse, state: ResponseState, pipeline: QueryPipeline) {
    this.res = res;
    this.state = state;
    this.#pipeline = pipeline;
  }

  begin(count: number): void {
    this.#remaining = count;
    this.onBegin(count);
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
    if (this.#remaining <= 0) assert.fail('an HTTP request gets no more answers than it has queries');
    this.collect(index, answer);
    if (--this.#remaining === 0) this.finish(answer);
  }

  /** `count` (> 0) answers will come. */
  protected abstract onBegin(count: number): void;
  /** Answer `index` arrived (each index exactly once). */
  protected abstract collect(index: number, answer: Answer): void;
  /** Every answer is in; `last` is the one that came last. Send the response. */
  protected abstract finish(last: Answer): void;
}
