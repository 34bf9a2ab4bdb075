// The main thread's end of the batching workers: one thread per worker (threads.ts), a query ring and
// a reply ring for every (frontend, worker) pair, and the placement of model-version actors on
// threads. Each frontend (query core) reaches the workers through its own RingPort (ring_port.ts):
// the pool makes frontend 0's itself when the main thread serves queries (mainPort) and hands the
// others' rings out with frontendRings(k). A worker's query rings share one bell, as do a frontend's
// reply rings, so each side watches all its rings with one doorbell (ipc/doorbell.ts). Threads and
// the clock are injected, so this end runs against a fake worker end in unit tests.

import assert from 'node:assert/strict';
import path from 'node:path';
import { MessageChannel, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { kFrontendsMax } from '../ipc/records.js';
import { createBell, createRing } from '../ipc/ring_buffer.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { kRepoRoot } from '../paths.js';
import type { ReplicaConnectionOptions } from '../rpc/replica_connection.js';
import type { ModelActorSpec, ModelActorStats, Placement, ThreadResources, WorkerControl, WorkerEvent, WorkerInit } from './protocol.js';
import { RingPort, type FrontendRings, type ReplyHandler } from './ring_port.js';
import { threadStarter, type ThreadStarter, type ThreadTask } from './threads.js';

export type { FrontendRings, Placement, ReplyHandler };
export type ReplicaStateHandler = (placement: Placement, replicaId: number, connected: boolean, reason: string) => void;

export interface BatchingPoolOptions {
  threads: number;
  /** Ring memory per worker and direction, split over the frontends (ringBytesPerFrontend). */
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
  /** Frontends (query cores, each with its own rings to every worker): 1 .. kFrontendsMax; default 1. */
  frontends?: number;
  /**
   * Whether frontend 0 is this (the main) thread: the pool then makes its RingPort (mainPort, the
   * query core's BatchingPort) and onReply gets its replies. False: every frontend is another
   * thread, which runs its own RingPort over frontendRings(k). Default true.
   */
  mainFrontend?: boolean;
}

/** The smallest ring the split gives a frontend (unless ringBytes itself is smaller). */
export const kFrontendRingBytesMin = 1024 * 1024;

/**
 * Each (frontend, worker) ring's data bytes: ringBytes / frontends rounded down to a power of two,
 * at least kFrontendRingBytesMin (or ringBytes, when smaller). Ring memory is then about
 * 2 × workers × max(ringBytes, frontends × 1 MiB) rather than 2 × frontends × workers × ringBytes
 * (3.5 GiB at 64 cores by default, 896 MiB now). The largest input one query carries (inputBytesMax,
 * a little under half a ring: ~512 KiB at 1 MiB) follows the per-frontend ring: a larger one is
 * refused with 413 even under bodyBytesMax (16 MiB); raise ringBytes for bigger inputs.
 */
export function ringBytesPerFrontend(ringBytes: number, frontends: number): number {
  assert(Number.isInteger(frontends) && frontends >= 1, 'frontends must be a positive integer');
  const share = Math.floor(ringBytes / frontends);
  // ringBytes ≤ 2^30 (config.ts): the share's highest bit fits a 32-bit integer.
  const pow2 = share >= 1 ? 2 ** (31 - Math.clz32(share)) : 0;
  return Math.max(Math.min(ringBytes, kFrontendRingBytesMin), pow2);
}

/** What the pool's main end runs on: how worker threads start, and the clock of the stats timeout. */
export interface BatchingPoolDeps {
  threads: ThreadStarter<WorkerInit>;
  clock: Clock;
}

interface WorkerSlot {
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
  /** Every ring's data bytes (ringBytesPerFrontend): what each RingPort is made with. */
  readonly ringBytesEach: number;
  readonly #options: BatchingPoolOptions;
  readonly #onReplicaState: ReplicaStateHandler;
  readonly #deps: BatchingPoolDeps;
  readonly #workers: WorkerSlot[] = [];
  /** Every frontend's rings (index = frontend), made with the pool. */
  readonly #frontendRings: FrontendRings[] = [];
  /** Frontend 0's ring port when it is this thread (mainFrontend), else null. */
  readonly #mainPort: RingPort | null = null;
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
    const frontends = options.frontends ?? 1;
    assert(Number.isInteger(frontends) && frontends >= 1 && frontends <= kFrontendsMax, `frontends must be 1 .. ${kFrontendsMax}`);
    this.#options = options;
    this.#onReplicaState = onReplicaState;
    this.#deps = deps;
    this.ringBytesEach = ringBytesPerFrontend(options.ringBytes, frontends);
    this.#makeRings(frontends, options.threads);
    if (options.mainFrontend ?? true) {
      const o = options;
      const portOptions = { ringBytes: this.ringBytesEach, spinCount: o.spinCountMain, pollUs: o.pollUsMain, shouldPoll: o.shouldPollMain };
      this.#mainPort = new RingPort(this.#frontendRings[0]!, portOptions, onReply);
    }
  }

  /**
   * The main thread's own frontend's port (mainFrontend): the query core's BatchingPort. Made with
   * the pool, so the core can be built before start(); its replies flow once start() ran.
   */
  get mainPort(): RingPort {
    const port = this.#mainPort;
    assert(port !== null, 'this batching pool has no main-thread frontend (mainFrontend false)');
    return port;
  }

  /** `selectionPort`: batching thread 0 also hosts the selection worker on this port. */
  start(selectionPort?: MessagePort): void {
    assert(this.#workers.length === 0 && this.#frontendRings.length > 0, 'batching pool started twice, or after close');
    for (let i = 0; i < this.#options.threads; i++) this.#workers.push(this.#startWorker(i, i === 0 ? selectionPort : undefined));
    this.#mainPort?.start();
  }

  /**
   * Frontend k's rings to every worker, for the RingPort of the thread that serves it (not the main
   * thread's own frontend 0 when mainFrontend).
   */
  frontendRings(frontendIndex: number): FrontendRings {
    const rings = this.#frontendRings[frontendIndex];
    assert(rings !== undefined, `frontend ${frontendIndex} has no rings (out of range, or the pool is closed)`);
    assert(!(frontendIndex === 0 && this.#mainPort !== null), "frontend 0's rings are the main thread's own ring port");
    return rings;
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

  async close(): Promise<void> {
    for (const requestId of [...this.#statsWaiters.keys()]) this.#resolveStats(requestId);
    for (let i = 0; i < this.#workers.length; i++) this.#control(i, { kind: 'stop' });
    // A thread that died never sends `stopped`: its task's end stands in for it.
    const ended = this.#workers.map((w) => w.task.done.catch(() => undefined));
    await Promise.all(this.#workers.map((w, i) => Promise.race([w.stopped, ended[i]])));
    await Promise.all(ended);
    // The workers have written their last replies: the main frontend takes them. Other frontends'
    // reply rings are their own RingPorts' to drain.
    this.#mainPort?.close();
    for (const w of this.#workers) w.port.close();
    this.#frontendRings.length = 0;
    const tasks = this.#workers.map((w) => w.task);
    this.#workers.length = 0;
    await Promise.all(tasks.map((task) => task.destroy()));
  }

  /**
   * A query ring and a reply ring per (frontend, worker). A worker's query rings share one bell, a
   * frontend's reply rings another: each consumer watches all its rings with one doorbell.
   */
  #makeRings(frontends: number, threads: number): void {
    const queryBells = Array.from({ length: threads }, () => createBell());
    for (let k = 0; k < frontends; k++) {
      const replyBell = createBell();
      const rings: FrontendRings = { frontendIndex: k, queryRings: [], replyRings: [] };
      for (let w = 0; w < threads; w++) {
        rings.queryRings.push(createRing(this.ringBytesEach, queryBells[w]!));
        rings.replyRings.push(createRing(this.ringBytesEach, replyBell));
      }
      this.#frontendRings.push(rings);
    }
  }

  #startWorker(workerIndex: number, selectionPort: MessagePort | undefined): WorkerSlot {
    const o = this.#options;
    const channel = new MessageChannel();
    const init: WorkerInit = {
      workerIndex,
      queryRings: this.#frontendRings.map((rings) => rings.queryRings[workerIndex]!),
      replyRings: this.#frontendRings.map((rings) => rings.replyRings[workerIndex]!),
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
    let markStopped!: () => void;
    const stopped = new Promise<void>((resolve) => {
      markStopped = resolve;
    });
    channel.port1.on('message', (event: WorkerEvent) => {
      if (event.kind === 'stopped') markStopped();
      else this.#onEvent(workerIndex, event);
    });
    const task = this.#deps.threads.start(init, transferList);
    return { port: channel.port1, modelCount: 0, task, stopped };
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
    assert(slot !== undefined, 'placement on a batching thread that does not exist');
    return slot;
  }

  #control(workerIndex: number, message: WorkerControl): void {
    const slot = this.#workers[workerIndex];
    assert(slot !== undefined, 'control message for a batching thread that does not exist');
    slot.port.postMessage(message);
  }
}
