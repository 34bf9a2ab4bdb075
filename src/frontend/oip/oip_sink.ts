// Collects the answers of one infer request (one query per row) and sends the response when all
// are in: the output tensor (infer_response.ts), or the protocol's error when any row was answered
// with a default (oip_errors.ts). If the client goes away first, its queries are cancelled.

import type { HttpResponse } from 'uWebSockets.js';
import { sendBody, type ResponseState } from '../../http/http_util.js';
import { kJsonType } from '../../http/reply.js';
import type { Answer } from '../../query/answer.js';
import type { QueryPipeline } from '../../query/pipeline.js';
import { HttpRequestSink } from '../http_request_sink.js';
import { kHeaderLengthHeader } from './binary_body.js';
import { encodeInferResponse, type ResponseHead } from './infer_response.js';
import { defaultAnswerError, sendOipError } from './oip_errors.js';

export const kOctetStreamType = 'application/octet-stream';

export class OipSink extends HttpRequestSink {
  readonly #head: ResponseHead;
  /** The request's deadline, for the timeout error's message. */
  readonly #timeoutMicros: number;
  #texts: string[] = [];
  #failed: Answer | null = null;
  #failedIndex = -1;
  #failedCount = 0;

  constructor(res: HttpResponse, state: ResponseState, pipeline: QueryPipeline, head: ResponseHead, timeoutMicros: number) {
    super(res, state, pipeline);
    this.#head = head;
    this.#timeoutMicros = timeoutMicros;
  }

  protected onBegin(count: number): void {
    this.#texts = new Array<string>(count);
  }

  protected collect(index: number, answer: Answer): void {
    if (answer.isDefault) {
      this.#failedCount++;
      if (this.#failed === null || index < this.#failedIndex) {
        this.#failed = answer;
        this.#failedIndex = index;
      }
    } else {
      this.#texts[index] = answer.outputJson;
    }
  }

  protected finish(): void {
    if (this.#failed !== null) {
      sendOipError(this.res, this.state, defaultAnswerError(this.#failed, this.#failedCount, this.#texts.length, this.#timeoutMicros));
      return;
    }
    sendInferResponse(this.res, this.state, this.#head, this.#texts);
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
