// The main thread's end of the batching workers: the piscina pool, one query ring and one reply
// ring per worker thread, and the placement of model-version actors on threads. The hot path is
// submit*() (write one record into a query ring) and the reply drain (read records, call back).

import path from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ModelActorSpec, ModelActorStats } from './model_actor.js';
import type { WorkerControl, WorkerEvent, WorkerInit } from './worker.js';
import { Doorbell } from '../ipc/doorbell.js';
import { kQueryHeaderBytes, kReplyHeaderBytes, QueryTag, type DefaultReason, type ReplyStatus } from '../ipc/records.js';
import { createRing, RingConsumer, RingProducer } from '../ipc/ring_buffer.js';
import { numericElementBytes, writeNumericElements, type InputTypeCode } from '../input_types.js';
import { kRepoRoot } from '../paths.js';
import type { Placement } from './protocol.js';
import type { ReplicaConnectionOptions } from '../rpc/replica_connection.js';

export type { Placement };

export type ReplyHandler = (token: number, status: ReplyStatus, reason: DefaultReason, text: string) => void;
export type ReplicaStateHandler = (placement: Placement, replicaId: number, connected: boolean, reason: string) => void;

export interface DispatcherOptions {
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
}

interface WorkerSlot {
  producer: RingProducer;
  consumer: RingConsumer;
  doorbell: Doorbell;
  port: MessagePort;
  modelCount: number;
  done: Promise<void>;
  stopped: Promise<void>;
}

const kWorkerPath = path.join(kRepoRoot, 'dist', 'src', 'batching', 'worker.js');
const kStatsTimeoutMs = 2000;

export class Dispatcher {
  readonly #options: DispatcherOptions;
  readonly #onReply: ReplyHandler;
  readonly #onReplicaState: ReplicaStateHandler;
  readonly #workers: WorkerSlot[] = [];
  #pool: Piscina | null = null;
  #nextModelIndex = 1;
  #nextStatsRequestId = 1;
  readonly #statsWaiters = new Map<number, { remaining: number; models: ModelActorStats[]; resolve: (m: ModelActorStats[]) => void }>();

  constructor(options: DispatcherOptions, onReply: ReplyHandler, onReplicaState: ReplicaStateHandler) {
    this.#options = options;
    this.#onReply = onReply;
    this.#onReplicaState = onReplicaState;
  }

  /** `selectionPort`: batching thread 0 also hosts the selection worker on this port. */
  start(selectionPort?: MessagePort): void {
    const threads = this.#options.threads;
    // atomics 'disabled': our workers own sockets and timers, so their event loop must never be
    // parked in a synchronous Atomics.wait by piscina between tasks.
    const pool = new Piscina({ filename: kWorkerPath, minThreads: threads, maxThreads: threads,
      concurrentTasksPerWorker: 1, atomics: 'disabled', idleTimeout: Number.MAX_SAFE_INTEGER });
    this.#pool = pool;
    for (let i = 0; i < threads; i++) {
      const queryRing = createRing(this.#options.ringBytes);
      const replyRing = createRing(this.#options.ringBytes);
      const channel = new MessageChannel();
      const init: WorkerInit = { workerIndex: i, queryRing, replyRing, port: channel.port2,
        spinCount: this.#options.spinCountWorker, pollUs: this.#options.pollUsWorker, connection: this.#options.connection };
      const transferList: MessagePort[] = [channel.port2];
      if (i === 0 && selectionPort !== undefined) {
        init.selectionPort = selectionPort;
        transferList.push(selectionPort);
      }
      const consumer = new RingConsumer(replyRing);
      const doorbell = new Doorbell(consumer, { spinCount: this.#options.spinCountMain, waitTimeoutMs: 50,
        pollUs: this.#options.pollUsMain, shouldPoll: this.#options.shouldPollMain },
        () => this.#drainReplies(consumer));
      let markStopped!: () => void;
      const stopped = new Promise<void>((resolve) => { markStopped = resolve; });
      channel.port1.on('message', (event: WorkerEvent) => {
        if (event.kind === 'replica_state') {
          this.#onReplicaState({ workerIndex: i, modelIndex: event.modelIndex }, event.replicaId, event.connected, event.reason);
        } else if (event.kind === 'stats') {
          const waiter = this.#statsWaiters.get(event.requestId);
          if (waiter !== undefined) {
            waiter.models.push(...event.models);
            if (--waiter.remaining === 0) {
              this.#statsWaiters.delete(event.requestId);
              waiter.resolve(waiter.models);
            }
          }
        } else if (event.kind === 'stopped') {
          markStopped();
        }
      });
      const done = pool.run(init, { transferList }) as Promise<void>;
      this.#workers.push({ producer: new RingProducer(queryRing), consumer, doorbell, port: channel.port1,
        modelCount: 0, done, stopped });
      doorbell.start();
    }
  }

  /** Place a model-version actor on the least loaded thread. */
  addModel(spec: Omit<ModelActorSpec, 'modelIndex'>): Placement {
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
    this.#workers[placement.workerIndex]!.modelCount--;
    this.#control(placement.workerIndex, { kind: 'remove_model', modelIndex: placement.modelIndex });
  }

  addReplica(placement: Placement, replicaId: number, host: string, port: number): void {
    this.#control(placement.workerIndex, { kind: 'add_replica', modelIndex: placement.modelIndex, replicaId, host, port });
  }

  removeReplica(placement: Placement, replicaId: number): void {
    this.#control(placement.workerIndex, { kind: 'remove_replica', modelIndex: placement.modelIndex, replicaId });
  }

  /** The largest input (encoded bytes) one query record can carry. */
  get inputBytesMax(): number {
    return this.#options.ringBytes / 2 - 8 - kQueryHeaderBytes - 8;
  }

  /** Every model actor's measurements, gathered from all worker threads (for /metrics). */
  stats(): Promise<ModelActorStats[]> {
    if (this.#workers.length === 0) return Promise.resolve([]);
    const requestId = this.#nextStatsRequestId++;
    return new Promise((resolve) => {
      // Bounded: a worker that does not answer (stuck or gone) costs a scrape its models, not a hang.
      const timer = setTimeout(() => {
        const waiter = this.#statsWaiters.get(requestId);
        this.#statsWaiters.delete(requestId);
        if (waiter !== undefined) waiter.resolve(waiter.models);
      }, kStatsTimeoutMs);
      timer.unref();
      this.#statsWaiters.set(requestId, { remaining: this.#workers.length, models: [], resolve: (models) => {
        clearTimeout(timer);
        resolve(models);
      } });
      for (let i = 0; i < this.#workers.length; i++) this.#control(i, { kind: 'stats', requestId });
    });
  }

  /** Hot path: one numeric query. Returns false when the ring is full (the caller sheds it). */
  submitNumeric(placement: Placement, token: number, deadlineMs: number, type: InputTypeCode, values: readonly number[]): boolean {
    const ring = this.#workers[placement.workerIndex]!.producer;
    const n = values.length;
    const body = ring.reserve(kQueryHeaderBytes + n * numericElementBytes(type), QueryTag.Query);
    if (body < 0) return false;
    writeHeader(ring, body, token, placement.modelIndex, deadlineMs, type, n);
    writeNumericElements(ring, body + kQueryHeaderBytes, type, values);
    ring.commit();
    ring.wake();
    return true;
  }

  /** Hot path: one string (utf8) or bytes query. */
  submitBytes(placement: Placement, token: number, deadlineMs: number, type: InputTypeCode, value: string | Buffer): boolean {
    const ring = this.#workers[placement.workerIndex]!.producer;
    // UTF-8 takes at most 3 bytes per UTF-16 unit; count exactly only when that bound is too large.
    const reserveBytes = typeof value !== 'string' ? value.length
      : value.length * 3 <= this.inputBytesMax ? value.length * 3 : Buffer.byteLength(value, 'utf8');
    const body = ring.reserve(kQueryHeaderBytes + reserveBytes, QueryTag.Query);
    if (body < 0) return false;
    const start = body + kQueryHeaderBytes;
    const written = typeof value === 'string' ? ring.buffer.write(value, start, 'utf8') : value.copy(ring.buffer, start);
    writeHeader(ring, body, token, placement.modelIndex, deadlineMs, type, written);
    ring.commit(kQueryHeaderBytes + written);
    ring.wake();
    return true;
  }

  /** The client went away: drop the query if it is still queued. Best effort. */
  cancel(placement: Placement, token: number): void {
    const ring = this.#workers[placement.workerIndex]!.producer;
    const body = ring.reserve(8, QueryTag.Cancel);
    if (body < 0) return;
    ring.u32[body >>> 2] = token;
    ring.u32[(body >>> 2) + 1] = placement.modelIndex;
    ring.commit();
    ring.wake();
  }

  async close(): Promise<void> {
    for (const waiter of this.#statsWaiters.values()) waiter.resolve(waiter.models);
    this.#statsWaiters.clear();
    for (let i = 0; i < this.#workers.length; i++) this.#control(i, { kind: 'stop' });
    await Promise.all(this.#workers.map((w) => w.stopped));
    await Promise.all(this.#workers.map((w) => w.done.catch(() => undefined)));
    for (const w of this.#workers) {
      this.#drainReplies(w.consumer);
      w.doorbell.close();
      w.port.close();
    }
    this.#workers.length = 0;
    await this.#pool?.destroy();
    this.#pool = null;
  }

  #control(workerIndex: number, message: WorkerControl): void {
    this.#workers[workerIndex]!.port.postMessage(message);
  }

  #drainReplies(consumer: RingConsumer): void {
    const onReply = this.#onReply;
    const buffer = consumer.buffer;
    const u32 = consumer.u32;
    consumer.drain((body, bodyBytes, tag) => {
      const text = bodyBytes > kReplyHeaderBytes ? buffer.toString('utf8', body + kReplyHeaderBytes, body + bodyBytes) : '';
      onReply(u32[body >>> 2]!, tag as ReplyStatus, u32[(body >>> 2) + 1]! as DefaultReason, text);
    });
  }
}

function writeHeader(ring: RingProducer, body: number, token: number, modelIndex: number, deadlineMs: number,
  type: InputTypeCode, count: number): void {
  const u32 = ring.u32;
  const w = body >>> 2;
  u32[w] = token;
  u32[w + 1] = modelIndex;
  ring.f64[(body >>> 3) + 1] = deadlineMs;
  u32[w + 4] = type;
  u32[w + 5] = count;
}
