// The model-version actors of one batching worker thread: the query rings' records (one ring per
// frontend) are decoded into them (ipc/records.ts), and the main thread's control messages
// (protocol.ts) add, remove and configure them. The thread's entry (worker.ts) owns the rings'
// wake-ups and the control port.

import assert from 'node:assert/strict';
import {
  cancelModelIndex,
  cancelToken,
  copyQueryPayload,
  DefaultReason,
  isCancelRecord,
  queryCount,
  queryDeadlineMs,
  queryModelIndex,
  queryPriority,
  queryToken,
} from '../ipc/records.js';
import type { RingConsumer } from '../ipc/ring_buffer.js';
import type { ModelActor, ReplySink } from './model_actor.js';
import type { ModelActorSpec, ModelActorStats, WorkerControl } from './protocol.js';

/** A worker polls only while at most this many queries are open on it: light load. */
const kPollOpenQueriesMax = 16;

export class WorkerActors {
  readonly #actors = new Map<number, ModelActor>();
  /**
   * Actors that got records in the current drain: held, so that what one drain brings goes out as
   * one batch rather than its first query alone on an idle replica.
   */
  readonly #held: ModelActor[] = [];
  /** One query ring per frontend. */
  readonly #queries: readonly RingConsumer[];
  /** The ring being drained (the record visitor reads its records). */
  #ring: RingConsumer;
  readonly #replies: ReplySink;
  readonly #newActor: (spec: ModelActorSpec) => ModelActor;

  constructor(queries: readonly RingConsumer[], replies: ReplySink, newActor: (spec: ModelActorSpec) => ModelActor) {
    assert(queries.length >= 1, 'a worker needs at least one query ring');
    this.#queries = queries;
    this.#ring = queries[0]!;
    this.#replies = replies;
    this.#newActor = newActor;
  }

  get size(): number {
    return this.#actors.size;
  }

  /** Take every record published on every frontend's query ring so far (held: one batch). */
  drain(): void {
    try {
      const rings = this.#queries;
      for (let i = 0; i < rings.length; i++) {
        const ring = rings[i]!;
        this.#ring = ring;
        ring.drain(this.#onRecord);
      }
    } finally {
      for (const actor of this.#held) actor.release();
      this.#held.length = 0;
    }
  }

  /**
   * While every actor's replicas are all busy, a new query could not be sent anyway: the worker
   * then sleeps without asking to be notified and pulls the ring when a replica answers, unless
   * an actor is shedding (its refusals are answered on arrival: ModelActor.wantsWake).
   */
  wantsWake(): boolean {
    for (const actor of this.#actors.values()) if (actor.wantsWake()) return true;
    return this.#actors.size === 0;
  }

  /**
   * Low-load polling (DoorbellOptions.pollUs): only while this thread has few queries open and
   * every replica it waits on is expected to answer within the window (a model that computes for
   * long needs the core more than this thread needs a quick wake-up).
   */
  shouldPoll(pollUs: number): boolean {
    let open = 0;
    for (const actor of this.#actors.values()) {
      open += actor.openQueryCount;
      if (open > kPollOpenQueriesMax || !actor.expectsAnswerWithinUs(pollUs)) return false;
    }
    return true;
  }

  /** Apply one control message other than stats and stop (which the thread's entry answers). */
  control(msg: Exclude<WorkerControl, { kind: 'stats' | 'stop' }>): void {
    switch (msg.kind) {
      case 'add_model':
        assert(Number.isInteger(msg.spec.modelIndex) && msg.spec.modelIndex > 0, 'model index must be a positive integer');
        this.#actors.get(msg.spec.modelIndex)?.close();
        this.#actors.set(msg.spec.modelIndex, this.#newActor(msg.spec));
        break;
      case 'remove_model':
        this.#actors.get(msg.modelIndex)?.close();
        this.#actors.delete(msg.modelIndex);
        break;
      // A replica of a model removed meanwhile is ignored: the removal won the race.
      case 'add_replica':
        this.#actors.get(msg.modelIndex)?.addReplica(msg.replicaId, msg.host, msg.port, msg.secret ?? null);
        break;
      case 'remove_replica':
        this.#actors.get(msg.modelIndex)?.removeReplica(msg.replicaId);
        break;
      case 'set_batch_size':
        this.#actors.get(msg.modelIndex)?.setBatchSize(msg.batchSize);
        break;
    }
  }

  stats(): ModelActorStats[] {
    return [...this.#actors.values()].map((actor) => actor.stats());
  }

  closeAll(): void {
    for (const actor of this.#actors.values()) actor.close();
    this.#actors.clear();
  }

  readonly #onRecord = (body: number, bodyBytes: number, tag: number): void => {
    const ring = this.#ring;
    if (isCancelRecord(tag, bodyBytes)) {
      this.#hold(cancelModelIndex(ring, body))?.cancel(cancelToken(ring, body));
      return;
    }
    const token = queryToken(ring, body);
    const actor = this.#hold(queryModelIndex(ring, body));
    if (actor === undefined) {
      this.#replies.fallback(token, DefaultReason.UnknownModel);
      return;
    }
    actor.enqueue(
      token,
      queryDeadlineMs(ring, body),
      queryCount(ring, body),
      copyQueryPayload(ring, body, bodyBytes),
      queryPriority(ring, body),
    );
  };

  #hold(modelIndex: number): ModelActor | undefined {
    const actor = this.#actors.get(modelIndex);
    if (actor !== undefined && !this.#held.includes(actor)) {
      actor.hold();
      this.#held.push(actor);
    }
    return actor;
  }
}
