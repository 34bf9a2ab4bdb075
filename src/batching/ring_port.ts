// One frontend's end of the batching workers' rings: a query ring it writes and a reply ring it
// reads for every worker thread. Any thread can hold one (the main thread when it serves queries
// itself, else each frontend thread): the rings are SharedArrayBuffers the pool made (pool.ts), and
// nothing here posts a message. The hot path is submit*() (one record into a query ring: no
// allocation) and the reply drain (read records, call back): it allocates only each reply's text, a
// string decoded from the record (replyText), which the query core hands to the answer.

import assert from 'node:assert/strict';
import { Doorbell } from '../ipc/doorbell.js';
import {
  encodeBytesQuery,
  encodeCancel,
  encodeNumericQuery,
  frontendOfToken,
  queryInputBytesMax,
  replyReason,
  replyStatus,
  replyText,
  replyToken,
  type DefaultReason,
  type ReplyStatus,
} from '../ipc/records.js';
import { RingConsumer, RingProducer, type RecordVisitor, type RingBuffers } from '../ipc/ring_buffer.js';
import type { InputTypeCode, NumericInput } from '../input_types.js';
import type { Placement } from './protocol.js';

export type ReplyHandler = (token: number, status: ReplyStatus, reason: DefaultReason, text: string) => void;

/**
 * One frontend's rings, indexed by worker thread: queryRings[w] carries its queries to worker w,
 * replyRings[w] that worker's answers back. Structured-cloneable (SharedArrayBuffers), so it can be
 * posted to the frontend's thread.
 */
export interface FrontendRings {
  frontendIndex: number;
  queryRings: RingBuffers[];
  replyRings: RingBuffers[];
}

export interface RingPortOptions {
  /**
   * Every ring's data bytes (the pool's ringBytesEach: config ringBytes split over the frontends):
   * bounds the largest query record, inputBytesMax.
   */
  ringBytes: number;
  /** Polls of the empty reply rings before their doorbell sleeps (DoorbellOptions.spinCount). */
  spinCount: number;
  /** Low-load polling window of the reply rings, µs (DoorbellOptions.pollUs); 0: off. */
  pollUs: number;
  /** Whether this frontend may poll now (light load). */
  shouldPoll: () => boolean;
}

/** A reply ring's consumer and its record visitor (made once, not per drain). */
interface ReplyEnd {
  consumer: RingConsumer;
  visit: RecordVisitor;
}

export class RingPort {
  readonly frontendIndex: number;
  /** The largest input (encoded bytes) one query record can carry. */
  readonly inputBytesMax: number;
  readonly #producers: readonly RingProducer[];
  readonly #replies: readonly ReplyEnd[];
  /** One doorbell over every worker's reply ring (they share one bell, pool.ts). */
  readonly #doorbell: Doorbell;
  readonly #onReply: ReplyHandler;
  #started = false;
  #closed = false;

  constructor(rings: FrontendRings, options: RingPortOptions, onReply: ReplyHandler) {
    assert(rings.queryRings.length >= 1, 'a ring port needs the rings of at least one batching thread');
    assert.equal(rings.replyRings.length, rings.queryRings.length, 'a ring port needs a reply ring per query ring');
    for (const ring of [...rings.queryRings, ...rings.replyRings]) {
      assert.equal(ring.capacityBytes, options.ringBytes, 'every ring of a ring port has ringBytes of data');
    }
    this.frontendIndex = rings.frontendIndex;
    this.inputBytesMax = queryInputBytesMax(options.ringBytes);
    this.#onReply = onReply;
    this.#producers = rings.queryRings.map((ring) => new RingProducer(ring));
    const doorbellOptions = { spinCount: options.spinCount, waitTimeoutMs: 50, pollUs: options.pollUs, shouldPoll: options.shouldPoll };
    this.#replies = rings.replyRings.map((ring) => {
      const consumer = new RingConsumer(ring);
      return { consumer, visit: this.#replyVisitor(consumer) };
    });
    this.#doorbell = new Doorbell(
      this.#replies.map((end) => end.consumer),
      doorbellOptions,
      this.#drainReplies,
    );
  }

  /** Start draining the reply rings (their doorbell) on this thread's event loop. */
  start(): void {
    assert(!this.#started && !this.#closed, 'ring port started twice or after close');
    this.#started = true;
    this.#doorbell.start();
  }

  /** Hot path: one numeric query. Returns false when the ring is full (the caller sheds it). */
  submitNumeric(
    placement: Placement,
    token: number,
    deadlineMs: number,
    priority: number,
    type: InputTypeCode,
    values: NumericInput,
  ): boolean {
    const ring = this.#queryRing(placement, token);
    if (!encodeNumericQuery(ring, token, placement.modelIndex, deadlineMs, priority, type, values)) return false;
    ring.wake();
    return true;
  }

  /** Hot path: one string (utf8) or bytes query. */
  submitBytes(
    placement: Placement,
    token: number,
    deadlineMs: number,
    priority: number,
    type: InputTypeCode,
    value: string | Buffer,
  ): boolean {
    const ring = this.#queryRing(placement, token);
    if (!encodeBytesQuery(ring, token, placement.modelIndex, deadlineMs, priority, type, value)) return false;
    ring.wake();
    return true;
  }

  /** The client went away: drop the query if it is still queued. Best effort. */
  cancel(placement: Placement, token: number): void {
    const ring = this.#queryRing(placement, token);
    if (encodeCancel(ring, token, placement.modelIndex)) ring.wake();
  }

  /**
   * Stop the reply doorbell, then take the replies already written one last time. Call it once the
   * workers have stopped writing (or their late replies no longer matter). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#doorbell.close();
    this.#drainReplies();
  }

  readonly #drainReplies = (): void => {
    const replies = this.#replies;
    for (let i = 0; i < replies.length; i++) {
      const end = replies[i]!;
      end.consumer.drain(end.visit);
    }
  };

  #queryRing(placement: Placement, token: number): RingProducer {
    const ring = this.#producers[placement.workerIndex];
    // Hot path (every submit): assert.fail only on failure (see ipc/records.ts).
    if (ring === undefined) assert.fail('placement on a batching thread that does not exist');
    // A token of another frontend would send its reply to that frontend's ring.
    if (frontendOfToken(token) !== this.frontendIndex) assert.fail(`token ${token} is not frontend ${this.frontendIndex}'s`);
    return ring;
  }

  /** The record visitor of one reply ring: each reply to onReply, after checking it is this frontend's. */
  #replyVisitor(consumer: RingConsumer): RecordVisitor {
    const onReply = this.#onReply;
    const frontendIndex = this.frontendIndex;
    return (body, bodyBytes, tag) => {
      const token = replyToken(consumer, body);
      if (frontendOfToken(token) !== frontendIndex) assert.fail(`reply for token ${token} on frontend ${frontendIndex}'s ring`);
      onReply(token, replyStatus(tag, bodyBytes), replyReason(consumer, body), replyText(consumer, body, bodyBytes));
    };
  }
}
