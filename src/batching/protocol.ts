// The main ↔ batching-worker contract: the one module both ends import (the thread's init object,
// control messages and events, the actor spec and its stats, where an actor lives). Queries and
// replies never travel here: they are ring records, encoded and decoded by ipc/records.ts.

import type { MessagePort } from 'node:worker_threads';
import type { InputType } from '../input_types.js';
import type { RingBuffers } from '../ipc/ring_buffer.js';
import type { BucketHistogram } from '../lib/bucket_histogram.js';
import type { ReplicaConnectionOptions } from '../rpc/replica_connection.js';
import type { SchedulerOptions } from './scheduler_options.js';
import type { SchedulerStats } from './scheduler_types.js';

/**
 * A query's priority: an integer from kPriorityNormal (0, the default and the least urgent) to
 * kPriorityMax, larger = more urgent. Among queued queries a more urgent one goes into a batch first;
 * within one priority, earliest deadline first (batch_formation.ts). Few levels, so that the worker
 * keeps one deadline queue per level.
 */
export const kPriorityNormal = 0;
export const kPriorityMax = 15;

/** Where a model-version actor lives: its worker thread and its index there. Opaque above batching/. */
export interface Placement {
  readonly workerIndex: number;
  readonly modelIndex: number;
}

/** One model version's actor, as the main thread asks a worker to create it. */
export interface ModelActorSpec {
  modelIndex: number;
  name: string;
  version: string;
  inputType: InputType;
  scheduler: Partial<SchedulerOptions>;
}

/** One actor's measurements, sent back for /metrics. */
export interface ModelActorStats {
  modelIndex: number;
  name: string;
  version: string;
  scheduler: SchedulerStats;
  /** Queries per batch sent. */
  batchSize: BucketHistogram;
  /** Container round trip per batch, µs. */
  batchLatencyUs: BucketHistogram;
  /** Time from enqueue to send per query, µs. */
  queueUs: BucketHistogram;
  modelErrorCount: number;
}

/** What a batching worker thread is started with (the task's argument; the ports are transferred). */
export interface WorkerInit {
  workerIndex: number;
  /**
   * Indexed by frontend (ipc/records.ts frontendOfToken): frontend k's queries arrive on
   * queryRings[k], and the reply to a query goes to replyRings[frontendOfToken(token)]. The query
   * rings share one bell (pool.ts): the worker watches them all with one doorbell.
   */
  queryRings: RingBuffers[];
  replyRings: RingBuffers[];
  /** Control messages in (WorkerControl), events out (WorkerEvent). */
  port: MessagePort;
  spinCount: number;
  /** Low-load polling window of the query ring (µs; 0: off). */
  pollUs: number;
  connection: ReplicaConnectionOptions;
  /** When set, this thread also hosts the selection worker (docs/selection.md, "Threads"). */
  selectionPort?: MessagePort;
}

/** A thread's own resources, sent with its stats for /metrics (a leak shows from outside). */
export interface ThreadResources {
  /** process.getActiveResourcesInfo() of the thread: its ref'd timers, sockets, ports. */
  active: string[];
  /** Its V8 isolate's heap in use. */
  heapUsedBytes: number;
}

/** Main → worker, on WorkerInit.port: models and replicas coming and going (rare), stats, stop. */
export type WorkerControl =
  | { kind: 'add_model'; spec: ModelActorSpec }
  | { kind: 'remove_model'; modelIndex: number }
  // `secret`: the cluster's replica secret (32+ bytes) its `ready` must prove (rpc/replica_auth.ts,
  // containers/PROTOCOL.md "Authentication"); null: replicaAuth off. Absent is null.
  | { kind: 'add_replica'; modelIndex: number; replicaId: number; host: string; port: number; secret?: Uint8Array | null }
  | { kind: 'remove_replica'; modelIndex: number; replicaId: number }
  // The model's batch size changed: -1 adaptive, else a fixed maximum; its replicas keep running.
  | { kind: 'set_batch_size'; modelIndex: number; batchSize: number }
  | { kind: 'stats'; requestId: number }
  | { kind: 'stop' };

/** Worker → main, on WorkerInit.port. `stopped` is the last event a worker sends. */
export type WorkerEvent =
  | { kind: 'replica_state'; modelIndex: number; replicaId: number; connected: boolean; reason: string }
  | { kind: 'stats'; requestId: number; models: ModelActorStats[]; resources?: ThreadResources }
  | { kind: 'stopped' };
