// A batching worker thread (run by piscina with atomics 'disabled', so its event loop keeps
// running for sockets and timers). It hosts the actors of every model version assigned to this
// thread, drains the query ring, and answers through the reply ring. Control messages (models and
// replicas coming and going: rare) arrive on a MessagePort; queries never use postMessage.

import type { MessagePort } from 'node:worker_threads';
import { Doorbell } from '../ipc/doorbell.js';
import { kQueryHeaderBytes, QueryTag } from '../ipc/records.js';
import { RingConsumer, RingProducer, type RingBuffers } from '../ipc/ring_buffer.js';
import type { InputType } from '../input_types.js';
import type { ReplicaConnectionOptions } from '../rpc/replica_connection.js';
import { hostSelectionService } from '../selection/selection_service.js';
import { ModelActor, type ActorIo, type ModelActorSpec, type ModelActorStats } from './model_actor.js';
import { ReplyWriter } from './reply_writer.js';

export type WorkerControl =
  | { kind: 'add_model'; spec: ModelActorSpec }
  | { kind: 'remove_model'; modelIndex: number }
  | { kind: 'add_replica'; modelIndex: number; replicaId: number; host: string; port: number }
  | { kind: 'remove_replica'; modelIndex: number; replicaId: number }
  | { kind: 'stats'; requestId: number }
  | { kind: 'stop' };

export type WorkerEvent =
  | { kind: 'replica_state'; modelIndex: number; replicaId: number; connected: boolean; reason: string }
  | { kind: 'stats'; requestId: number; models: ModelActorStats[] }
  | { kind: 'stopped' };

export interface WorkerInit {
  workerIndex: number;
  queryRing: RingBuffers;
  replyRing: RingBuffers;
  port: MessagePort;
  spinCount: number;
  /** Low-load polling window of the query ring (µs; 0: off). */
  pollUs: number;
  connection: ReplicaConnectionOptions;
  /** When set, this thread also hosts the selection worker (docs/selection.md, "Threads"). */
  selectionPort?: MessagePort;
}

/** A worker polls (init.pollUs) only while at most this many queries are open on it: light load. */
const kPollOpenQueriesMax = 16;

export default function hostBatchingWorker(init: WorkerInit): Promise<void> {
  const queries = new RingConsumer(init.queryRing);
  const replies = new ReplyWriter(new RingProducer(init.replyRing));
  const actors = new Map<number, ModelActor>();
  const port = init.port;
  if (init.selectionPort !== undefined) void hostSelectionService(init.selectionPort);

  // Actors that got records in the current drain: held, so that what one drain brings goes out as
  // one batch rather than its first query alone on an idle replica.
  const held: ModelActor[] = [];
  const onRecord = (body: number, bodyBytes: number, tag: number): void => {
    const u32 = queries.u32;
    const token = u32[body >>> 2]!;
    const modelIndex = u32[(body >>> 2) + 1]!;
    const actor = actors.get(modelIndex);
    if (actor !== undefined && !held.includes(actor)) {
      actor.hold();
      held.push(actor);
    }
    if (tag === QueryTag.Cancel) {
      actor?.cancel(token);
      return;
    }
    const deadlineMs = queries.f64[(body >>> 3) + 1]!;
    const count = u32[(body >>> 2) + 5]!;
    if (actor === undefined) {
      replies.fallback(token, 4 /* DefaultReason.UnknownModel */);
      return;
    }
    // Copy the payload out: the ring reuses these bytes once drain() returns.
    const start = body + kQueryHeaderBytes;
    const payload = Buffer.allocUnsafe(bodyBytes - kQueryHeaderBytes);
    queries.buffer.copy(payload, 0, start, body + bodyBytes);
    actor.enqueue(token, deadlineMs, count, payload);
  };

  // While every actor's replicas are all busy, a new query could not be sent anyway: the worker
  // then sleeps without asking to be notified and pulls the ring when a replica answers.
  const wantsWake = (): boolean => {
    for (const actor of actors.values()) if (actor.canSendNow()) return true;
    return actors.size === 0;
  };
  const drainQueries = (): void => {
    try {
      queries.drain(onRecord);
    } finally {
      for (const actor of held) actor.release();
      held.length = 0;
    }
  };
  // Low-load polling (DoorbellOptions.pollUs): only while this thread has few queries open and
  // every replica it waits on is expected to answer within the window (a model that computes for
  // long needs the core more than this thread needs a quick wake-up).
  const shouldPoll = (): boolean => {
    let open = 0;
    for (const actor of actors.values()) {
      open += actor.openQueryCount;
      if (open > kPollOpenQueriesMax || !actor.expectsAnswerWithinUs(init.pollUs)) return false;
    }
    return true;
  };
  const doorbell = new Doorbell(queries, { spinCount: init.spinCount, waitTimeoutMs: 50, wantsWake, pollUs: init.pollUs, shouldPoll }, () => {
    drainQueries();
    replies.flush();
  });
  const io: ActorIo = {
    pull: drainQueries,
    rearm: () => doorbell.rearm(),
  };

  return new Promise<void>((resolve) => {
    port.on('message', (msg: WorkerControl) => {
      switch (msg.kind) {
        case 'add_model': {
          actors.get(msg.spec.modelIndex)?.close();
          const spec = { ...msg.spec, inputType: msg.spec.inputType as InputType };
          actors.set(spec.modelIndex, new ModelActor(spec, replies, init.connection,
            (replicaId, connected, reason) => port.postMessage({
              kind: 'replica_state', modelIndex: spec.modelIndex, replicaId, connected, reason,
            } satisfies WorkerEvent), io));
          break;
        }
        case 'remove_model':
          actors.get(msg.modelIndex)?.close();
          actors.delete(msg.modelIndex);
          break;
        case 'add_replica':
          actors.get(msg.modelIndex)?.addReplica(msg.replicaId, msg.host, msg.port);
          break;
        case 'remove_replica':
          actors.get(msg.modelIndex)?.removeReplica(msg.replicaId);
          break;
        case 'stats':
          port.postMessage({ kind: 'stats', requestId: msg.requestId,
            models: [...actors.values()].map((a) => a.stats()) } satisfies WorkerEvent);
          break;
        case 'stop':
          doorbell.close();
          for (const actor of actors.values()) actor.close();
          actors.clear();
          replies.flush();
          replies.close();
          port.postMessage({ kind: 'stopped' } satisfies WorkerEvent);
          port.close();
          resolve();
          break;
      }
      replies.flush();
    });
    doorbell.start();
  });
}
