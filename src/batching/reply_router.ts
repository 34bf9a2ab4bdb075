// A batching worker's replies, routed by token: each query is answered on the reply ring of the
// frontend that sent it (its token's top bits, ipc/records.ts frontendOfToken), through that ring's
// ReplyWriter (reply_writer.ts). One array lookup per reply; nothing allocated.

import assert from 'node:assert/strict';
import { frontendOfToken, type DefaultReason } from '../ipc/records.js';
import type { ReplySink } from './model_actor.js';
import type { ReplyWriter } from './reply_writer.js';

export class ReplyRouter implements ReplySink {
  /** Indexed by frontend. */
  readonly #writers: readonly ReplyWriter[];

  constructor(writers: readonly ReplyWriter[]) {
    assert(writers.length >= 1, 'a reply router needs at least one frontend');
    this.#writers = writers;
  }

  ok(token: number, outputJson: string): void {
    this.#writer(token).ok(token, outputJson);
  }

  fallback(token: number, reason: DefaultReason, detail?: string): void {
    this.#writer(token).fallback(token, reason, detail);
  }

  /** Flush every frontend's writer (each wakes its frontend only when it wrote something). */
  flush(): void {
    const writers = this.#writers;
    for (let i = 0; i < writers.length; i++) writers[i]!.flush();
  }

  close(): void {
    for (const writer of this.#writers) writer.close();
  }

  #writer(token: number): ReplyWriter {
    const writer = this.#writers[frontendOfToken(token)];
    // Hot path (every reply): assert.fail only on failure (see ipc/records.ts). A token names the
    // frontend that made it; one without a ring here was never written to this worker's rings.
    if (writer === undefined) assert.fail(`reply for token ${token}: frontend ${frontendOfToken(token)} has no reply ring`);
    return writer;
  }
}
