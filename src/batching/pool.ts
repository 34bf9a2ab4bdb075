// The main thread's end of the batching workers: one thread per worker (threads.ts), one query ring
// and one reply ring per thread, and the placement of model-version actors on threads. The hot path
// is submit*() (write one record into a query ring) and the reply drain (read records, call back).
// Threads and the clock are injected, so this end runs against a fake worker end in unit tests.

import assert from 'node:assert/strict';
import path from 'node:path';
import { MessageChannel, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { Doorbell } from '../ipc/doorbell.js';
import {
  encodeBytesQuery,
  encodeCancel,
  encodeNumericQuery,
  queryInputBytesMax,
  replyReason,
  replyStatus,
  replyText,
  replyToken,
  type DefaultReason,
  type ReplyStatus,
} from '../ipc/records.js';
import { createRing, RingConsumer, RingProducer } from '../ipc/ring_buffer.js';
import type { InputTypeCode } from '../input_types.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { kRepoRoot } from '../paths.js';
import type { ReplicaConnectionOptions } from '../rpc/replica_connection.js';
import type { ModelActorSpec, ModelActorStats, Placement, ThreadResources, WorkerControl, WorkerEvent, WorkerInit } from './protocol.js';
import { threadStarter, type ThreadStarter, type ThreadTask } from './threads.js';

export type { Placement };

export type ReplyHandler = (token: number, status: ReplyStatus, reason: DefaultReason, text: string) => void;
export type ReplicaStateHandler = (placement: Placement, replicaId: number, connected: boolean, reason: string) => void;

export interface BatchingPoolOptions {
  threads: number;
  ringBytes: number;
  spinCountWorker: number;
  spinCountMain: number;
  /** Low-load polling of the reply ring on the main thread (see DoorbellOptions.pollUs); 0: off. */
  pollUsMain: number;
  /** Low-load polling of the query ring by the batching workers; 0: off. */
  pollUsWorker: number;
  /** Whether the main thread may poll now (light load). */
  shouldPollMain: () => boolean;
  connection: ReplicaConnectionOptions;
  /** The cluster's replica secret, sent with each add_replica; null or absent: replicaAuth off. */
  replicaSecret?: Uint8Array | null;
}

/** What the pool's main end runs on: how worker threads start, and the clock of the stats timeout. */
export interface BatchingPoolDeps {
  threads: ThreadStarter<WorkerInit>;
  clock: Clock;
}

interface WorkerSlot {
  producer: RingProducer;
  consumer: RingConsumer;
  doorbell: Doorbell;
  port: MessagePort;
  modelCount: number;
  task: ThreadTask;
  stopped: Promise<void>;
}

interface StatsWaiter {
  remaining: number;
  models: ModelActorStats[];
  resolve: (models: ModelActorStats[]) => void;
}

const kWorkerPath = path.join(kRepoRoot, 'dist', 'src', 'batching', 'worker.js');
const kStatsTimeoutMs = 2000;

/** Batching worker threads on piscina (threads.ts) and the system clock. */
export function defaultBatchingPoolDeps(): BatchingPoolDeps {
  return { threads: threadStarter<WorkerInit>(kWorkerPath), clock: systemClock };
}

export class BatchingPool {
  readonly #options: BatchingPoolOptions;
  readonly #onReply: ReplyHandler;
  readonly #onReplicaState: ReplicaStateHandler;
  readonly #deps: BatchingPoolDeps;
  readonly #workers: WorkerSlot[] = [];
  #nextModelIndex = 1;
  #nextStatsRequestId = 1;
  readonly #statsWaiters = new Map<number, StatsWaiter>();
  /** Each thread's resources as of its last stats answer (nodejs_thread_* in /metrics). */
  readonly #threadResources: ThreadResources[] = [];

  constructor(
    options: BatchingPoolOptions,
    onReply: ReplyHandler,
    onReplicaState: ReplicaStateHandler,
    deps: BatchingPoolDeps = defaultBatchingPoolDeps(),
  ) {
    assert(Number.isInteger(options.threads) && options.threads >= 1, 'a batching pool needs at least one thread');
    this.#options = options;
    this.#onReply = onReply;
    this.#onReplicaState = onReplicaState;
    this.#deps = deps;
  }

  /** `selectionPort`: batching thread 0 also hosts the selection worker on this port. */
  start(selectionPort?: MessagePort): void {
    assert(this.#workers.length === 0, 'batching pool started twice');
    for (let i = 0; i < this.#options.threads; i++) this.#workers.push(this.#startWorker(i, i === 0 ? selectionPort : undefined));
  }

  /** Place a model-version actor on the least loaded thread. */
  addModel(spec: Omit<ModelActorSpec, 'modelIndex'>): Placement {
    assert(this.#workers.length > 0, 'addModel() before start()');
    let workerIndex = 0;
    for (let i = 1; i < this.#workers.length; i++) {
      if (this.#workers[i]!.modelCount < this.#workers[workerIndex]!.modelCount) workerIndex = i;
    }
    const placement = { workerIndex, modelIndex: this.#nextModelIndex++ };
    this.#workers[workerIndex]!.modelCount++;
    this.#control(workerIndex, { kind: 'add_model', spec: { ...spec, modelIndex: placement.modelIndex } });
    return placement;
  }

  removeModel(placement: Placement): void {
    const slot = this.#slot(placement);
    assert(slot.modelCount > 0, 'removeModel() of a thread without models');
    slot.modelCount--;
    this.#control(placement.workerIndex, { kind: 'remove_model', modelIndex: placement.modelIndex });
  }

  addReplica(placement: Placement, replicaId: number, host: string, port: number): void {
    const secret = this.#options.replicaSecret ?? null;
    this.#control(placement.workerIndex, { kind: 'add_replica', modelIndex: placement.modelIndex, replicaId, host, port, secret });
  }

  removeReplica(placement: Placement, replicaId: number): void {
    this.#control(placement.workerIndex, { kind: 'remove_replica', modelIndex: placement.modelIndex, replicaId });
  }

  /** A model's new batch size (-1 adaptive, else a fixed maximum), for its scheduler; replicas keep running. */
  setBatchSize(placement: Placement, batchSize: number): void {
    this.#control(placement.workerIndex, { kind: 'set_batch_size', modelIndex: placement.modelIndex, batchSize });
  }

  /** The largest input (encoded bytes) one query record can carry. */
  get inputBytesMax(): number {
    return queryInputBytesMax(this.#options.ringBytes);
  }

  /** Each worker thread's resources (timers, sockets, heap) as of its last stats() answer. */
  threadResources(): readonly ThreadResources[] {
    return this.#threadResources;
  }

  /** Every model actor's measurements, gathered from all worker threads (for /metrics). */
  stats(): Promise<ModelActorStats[]> {
    if (this.#workers.length === 0) return Promise.resolve([]);
    const requestId = this.#nextStatsRequestId++;
    const clock = this.#deps.clock;
    return new Promise((resolve) => {
      // Bounded: a worker that does not answer (stuck or gone) costs a scrape its models, not a hang.
      const timer = clock.setTimer(kStatsTimeoutMs, () => this.#resolveStats(requestId));
      this.#statsWaiters.set(requestId, {
        remaining: this.#workers.length,
        models: [],
        resolve: (models) => {
          clock.clearTimer(timer);
          resolve(models);
        },
      });
      for (let i = 0; i < this.#workers.length; i++) this.#control(i, { kind: 'stats', requestId });
    });
  }

  /** Hot path: one numeric query. Returns false when the ring is full (the caller sheds it). */
  submitNumeric(
    placement: Placement,
    token: number,
    deadlineMs: number,
    priority: number,
    type: InputTypeCode,
    values: readonly number[],
  ): boolean {
    const ring = this.#slot(placement).producer;
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
    const ring = this.#slot(placement).producer;
    if (!encodeBytesQuery(ring, token, placement.modelIndex, deadlineMs, priority, type, value)) return false;
    ring.wake();
    return true;
  }

  /** The client went away: drop the query if it is still queued. Best effort. */
  cancel(placement: Placement, token: number): void {
    const ring = this.#slot(placement).producer;
    if (encodeCancel(ring, token, placement.modelIndex)) ring.wake();
  }

  async close(): Promise<void> {
    for (const requestId of [...this.#statsWaiters.keys()]) this.#resolveStats(requestId);
    for (let i = 0; i < this.#workers.length; i++) this.#control(i, { kind: 'stop' });
    // A thread that died never sends `stopped`: its task's end stands in for it.
    const ended = this.#workers.map((w) => w.task.done.catch(() => undefined));
    await Promise.all(this.#workers.map((w, i) => Promise.race([w.stopped, ended[i]])));
    await Promise.all(ended);
    for (const w of this.#workers) {
      this.#drainReplies(w.consumer);
      w.doorbell.close();
      w.port.close();
    }
    const tasks = this.#workers.map((w) => w.task);
    this.#workers.length = 0;
    await Promise.all(tasks.map((task) => task.destroy()));
  }

  #startWorker(workerIndex: number, selectionPort: MessagePort | undefined): WorkerSlot {
    const o = this.#options;
    const queryRing = createRing(o.ringBytes);
    const replyRing = createRing(o.ringBytes);
    const channel = new MessageChannel();
    const init: WorkerInit = {
      workerIndex,
      queryRing,
      replyRing,
      port: channel.port2,
      spinCount: o.spinCountWorker,
      pollUs: o.pollUsWorker,
      connection: o.connection,
    };
    const transferList: TransferListItem[] = [channel.port2];
    if (selectionPort !== undefined) {
      init.selectionPort = selectionPort;
      transferList.push(selectionPort);
    }
    const consumer = new RingConsumer(replyRing);
    const doorbell = new Doorbell(
      consumer,
      { spinCount: o.spinCountMain, waitTimeoutMs: 50, pollUs: o.pollUsMain, shouldPoll: o.shouldPollMain },
      () => this.#drainReplies(consumer),
    );
    let markStopped!: () => void;
    const stopped = new Promise<void>((resolve) => {
      markStopped = resolve;
    });
    channel.port1.on('message', (event: WorkerEvent) => {
      if (event.kind === 'stopped') markStopped();
      else this.#onEvent(workerIndex, event);
    });
    const task = this.#deps.threads.start(init, transferList);
    doorbell.start();
    return { producer: new RingProducer(queryRing), consumer, doorbell, port: channel.port1, modelCount: 0, task, stopped };
  }

  #onEvent(workerIndex: number, event: Exclude<WorkerEvent, { kind: 'stopped' }>): void {
    if (event.kind === 'replica_state') {
      this.#onReplicaState({ workerIndex, modelIndex: event.modelIndex }, event.replicaId, event.connected, event.reason);
      return;
    }
    // A stats answer after its request timed out finds no waiter: dropped.
    const waiter = this.#statsWaiters.get(event.requestId);
    if (event.resources !== undefined) this.#threadResources[workerIndex] = event.resources;
    if (waiter === undefined) return;
    for (const model of event.models) waiter.models.push(model);
    assert(waiter.remaining > 0, 'more stats answers than worker threads');
    if (--waiter.remaining === 0) this.#resolveStats(event.requestId);
  }

  #resolveStats(requestId: number): void {
    const waiter = this.#statsWaiters.get(requestId);
    if (waiter === undefined) return;
    this.#statsWaiters.delete(requestId);
    waiter.resolve(waiter.models);
  }

  #slot(placement: Placement): WorkerSlot {
    const slot = this.#workers[placement.workerIndex];
    // Hot path (every submit): assert.fail only on failure (see ipc/records.ts).
    if (slot === undefined) assert.fail('placement on a batching thread that does not exist');
    return slot;
  }

  #control(workerIndex: number, message: WorkerControl): void {
    const slot = this.#workers[workerIndex];
    assert(slot !== undefined, 'control message for a batching thread that does not exist');
    slot.port.postMessage(message);
  }

  #drainReplies(consumer: RingConsumer): void {
    const onReply = this.#onReply;
    consumer.drain((body, bodyBytes, tag) => {
      onReply(replyToken(consumer, body), replyStatus(tag, bodyBytes), replyReason(consumer, body), replyText(consumer, body, bodyBytes));
    });
  }
}
