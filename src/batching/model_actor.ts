// One model version's actor inside a batching worker: its queue of queries, its replicas'
// connections, and the loop that forms batches and hands results back through the reply ring.
// `#resume()` is the one function that re-derives the next step from state; every event (a query,
// a result, a replica coming or going) updates state and calls it.

import { outputToJson } from './output_json.js';
import type { ReplyWriter } from './reply_writer.js';
import { DefaultReason, monotonicNowMs } from '../ipc/records.js';
import type { InputType } from '../input_types.js';
import type { PredictMessage } from '../rpc/protocol.js';
import {
  ReplicaConnection, type ReplicaConnectionEvents, type ReplicaConnectionOptions,
} from '../rpc/replica_connection.js';

export interface ModelActorSpec {
  modelIndex: number;
  name: string;
  version: string;
  inputType: InputType;
  /** Largest batch sent to one replica. */
  batchSizeMax: number;
  inFlightBatchesPerReplica: number;
  /** Queued queries beyond this are answered at once (QueueFull). */
  queueBound: number;
}

interface QueuedQuery {
  token: number;
  deadlineMs: number;
  /** Element count (numeric) or byte length. */
  count: number;
  payload: Buffer;
}

interface Batch {
  replica: ReplicaConnection;
  items: QueuedQuery[];
}

/** Replica state changes the worker reports to the main thread. */
export type ReplicaStateListener = (replicaId: number, connected: boolean, reason: string) => void;

let nextBatchId = 1;

export class ModelActor implements ReplicaConnectionEvents {
  readonly spec: ModelActorSpec;
  readonly #replies: ReplyWriter;
  readonly #connectionOptions: ReplicaConnectionOptions;
  readonly #onReplicaState: ReplicaStateListener;
  readonly #replicas = new Map<number, ReplicaConnection>();
  readonly #batches = new Map<number, Batch>();
  // FIFO with a moving head; compacted when the head passes half the array.
  #queue: QueuedQuery[] = [];
  #queueHead = 0;
  #readyCount = 0;

  constructor(spec: ModelActorSpec, replies: ReplyWriter, connectionOptions: ReplicaConnectionOptions,
    onReplicaState: ReplicaStateListener) {
    this.spec = spec;
    this.#replies = replies;
    this.#connectionOptions = connectionOptions;
    this.#onReplicaState = onReplicaState;
  }

  get queuedCount(): number {
    return this.#queue.length - this.#queueHead;
  }

  enqueue(token: number, deadlineMs: number, count: number, payload: Buffer): void {
    if (this.#readyCount === 0) {
      this.#replies.fallback(token, DefaultReason.NoReplica);
      return;
    }
    if (this.queuedCount >= this.spec.queueBound) {
      this.#replies.fallback(token, DefaultReason.QueueFull);
      return;
    }
    this.#queue.push({ token, deadlineMs, count, payload });
    this.#resume();
  }

  cancel(token: number): void {
    for (let i = this.#queueHead; i < this.#queue.length; i++) {
      if (this.#queue[i]!.token === token) {
        this.#queue.splice(i, 1);
        return;
      }
    }
  }

  addReplica(replicaId: number, host: string, port: number): void {
    this.#replicas.get(replicaId)?.close('replaced');
    const conn = new ReplicaConnection(
      { model: this.spec.name, version: this.spec.version, inputType: this.spec.inputType, replicaId, host, port },
      this.#connectionOptions, this);
    this.#replicas.set(replicaId, conn);
  }

  removeReplica(replicaId: number): void {
    const conn = this.#replicas.get(replicaId);
    if (conn === undefined) return;
    this.#replicas.delete(replicaId);
    conn.close('replica removed');
  }

  close(): void {
    for (const id of [...this.#replicas.keys()]) this.removeReplica(id);
    this.#failQueued(DefaultReason.NoReplica);
  }

  // ReplicaConnectionEvents

  onReady(conn: ReplicaConnection): void {
    this.#readyCount++;
    this.#onReplicaState(conn.address.replicaId, true, '');
    this.#resume();
  }

  onDown(conn: ReplicaConnection, reason: string, lostBatchIds: number[]): void {
    const nowMs = monotonicNowMs();
    const requeue: QueuedQuery[] = [];
    for (const id of lostBatchIds) {
      const batch = this.#batches.get(id);
      if (batch === undefined) continue;
      this.#batches.delete(id);
      for (const item of batch.items) if (item.deadlineMs > nowMs) requeue.push(item);
    }
    if (requeue.length > 0) this.#queue.splice(this.#queueHead, 0, ...requeue);
    this.#readyCount = [...this.#replicas.values()].filter((r) => r.ready).length;
    this.#onReplicaState(conn.address.replicaId, false, reason);
    if (this.#readyCount === 0) this.#failQueued(DefaultReason.NoReplica);
    this.#resume();
  }

  onResult(_conn: ReplicaConnection, batchId: number, outputs: unknown[]): void {
    const batch = this.#batches.get(batchId);
    if (batch === undefined) return;
    this.#batches.delete(batchId);
    const items = batch.items;
    if (outputs.length !== items.length) {
      const message = `${this.spec.name}:${this.spec.version} returned ${outputs.length} outputs for a batch of ${items.length}`;
      for (const item of items) this.#replies.fallback(item.token, DefaultReason.ModelError, message);
    } else {
      for (let i = 0; i < items.length; i++) this.#replies.ok(items[i]!.token, outputToJson(outputs[i]));
    }
    this.#resume();
  }

  onBatchError(_conn: ReplicaConnection, batchId: number, message: string): void {
    const batch = this.#batches.get(batchId);
    if (batch === undefined) return;
    this.#batches.delete(batchId);
    const detail = `${this.spec.name}:${this.spec.version} failed: ${message}`;
    for (const item of batch.items) this.#replies.fallback(item.token, DefaultReason.ModelError, detail);
    this.#resume();
  }

  #resume(): void {
    if (this.queuedCount === 0 || this.#readyCount === 0) return;
    for (const replica of this.#replicas.values()) {
      while (replica.ready && replica.inFlightCount < this.spec.inFlightBatchesPerReplica && this.queuedCount > 0) {
        const items = this.#takeBatch();
        if (items.length === 0) return;
        this.#sendBatch(replica, items);
      }
      if (this.queuedCount === 0) return;
    }
  }

  /** Up to batchSizeMax queries whose deadline has not passed; expired ones are dropped (the
   * frontend answers them with the default output at their deadline). */
  #takeBatch(): QueuedQuery[] {
    const nowMs = monotonicNowMs();
    const items: QueuedQuery[] = [];
    const queue = this.#queue;
    while (this.#queueHead < queue.length && items.length < this.spec.batchSizeMax) {
      const item = queue[this.#queueHead]!;
      this.#queueHead++;
      if (item.deadlineMs > nowMs) items.push(item);
    }
    if (this.#queueHead > 1024 && this.#queueHead * 2 > queue.length) {
      this.#queue = queue.slice(this.#queueHead);
      this.#queueHead = 0;
    } else if (this.#queueHead === queue.length) {
      queue.length = 0;
      this.#queueHead = 0;
    }
    return items;
  }

  #sendBatch(replica: ReplicaConnection, items: QueuedQuery[]): void {
    const batchId = nextBatchId;
    nextBatchId = nextBatchId >= 0x7fffffff ? 1 : nextBatchId + 1;
    const message = encodeBatch(batchId, this.spec.inputType, items);
    this.#batches.set(batchId, { replica, items });
    if (!replica.send(message)) {
      this.#batches.delete(batchId);
      this.#queue.splice(this.#queueHead, 0, ...items);
    }
  }

  #failQueued(reason: DefaultReason): void {
    for (let i = this.#queueHead; i < this.#queue.length; i++) this.#replies.fallback(this.#queue[i]!.token, reason);
    this.#queue = [];
    this.#queueHead = 0;
  }
}

function encodeBatch(id: number, type: InputType, items: QueuedQuery[]): PredictMessage {
  const n = items.length;
  if (type === 'strings') {
    return { t: 'predict', id, type, n, items: items.map((q) => q.payload.toString('utf8')) };
  }
  if (type === 'bytes') {
    return { t: 'predict', id, type, n, items: items.map((q) => q.payload) };
  }
  const lens: number[] = new Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    lens[i] = items[i]!.count;
    total += items[i]!.payload.length;
  }
  const data = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const q of items) offset += q.payload.copy(data, offset);
  return { t: 'predict', id, type, n, lens, data };
}
