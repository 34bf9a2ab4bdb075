// A batching worker thread (its task, started by threads.ts, runs for the thread's life). It hosts
// the actors of every model version assigned to this thread (worker_actors.ts), drains the query
// ring of every frontend, and answers each query on its frontend's reply ring (reply_router.ts).
// Control messages (models and replicas coming and going: rare) arrive on a MessagePort
// (protocol.ts); queries never use postMessage.

import { getHeapStatistics } from 'node:v8';
import { Doorbell } from '../ipc/doorbell.js';
import { RingConsumer, RingProducer } from '../ipc/ring_buffer.js';
import { systemClock } from '../lib/clock.js';
import { hostSelectionService } from '../selection/selection_service.js';
import { ModelActor, type ActorIo } from './model_actor.js';
import type { ThreadResources, WorkerControl, WorkerEvent, WorkerInit } from './protocol.js';
import { socketConnector } from './replica_link.js';
import { ReplyRouter } from './reply_router.js';
import { ReplyWriter } from './reply_writer.js';
import { WorkerActors } from './worker_actors.js';

/** This thread's timers, sockets and heap, for /metrics (read at each stats request). */
function threadResources(): ThreadResources {
  return { active: process.getActiveResourcesInfo(), heapUsedBytes: getHeapStatistics().used_heap_size };
}

export default function hostBatchingWorker(init: WorkerInit): Promise<void> {
  if (init.selectionPort !== undefined) void hostSelectionService(init.selectionPort);
  const port = init.port;
  const post = (event: WorkerEvent): void => port.postMessage(event);
  const queries = init.queryRings.map((ring) => new RingConsumer(ring));
  const replies = new ReplyRouter(init.replyRings.map((ring) => new ReplyWriter(new RingProducer(ring))));
  const connect = socketConnector(init.connection);
  const io: ActorIo = { pull: () => actors.drain(), rearm: () => doorbell.rearm() };
  const actors = new WorkerActors(
    queries,
    replies,
    (spec) =>
      new ModelActor(spec, {
        replies,
        connect,
        clock: systemClock,
        io,
        onReplicaState: (replicaId, connected, reason) =>
          post({ kind: 'replica_state', modelIndex: spec.modelIndex, replicaId, connected, reason }),
      }),
  );
  const doorbellOptions = {
    spinCount: init.spinCount,
    waitTimeoutMs: 50,
    pollUs: init.pollUs,
    wantsWake: () => actors.wantsWake(),
    shouldPoll: () => actors.shouldPoll(init.pollUs),
  };
  const onReady = (): void => {
    actors.drain();
    replies.flush();
  };
  // One doorbell over every frontend's query ring (they share one bell, pool.ts): one spin, one
  // bounded sleep and one polling window, whichever frontend publishes; the drain takes every ring's
  // records, so what the frontends published together goes out as one batch.
  const doorbell = new Doorbell(queries, doorbellOptions, onReady);

  return new Promise<void>((resolve) => {
    port.on('message', (msg: WorkerControl) => {
      if (msg.kind === 'stop') {
        doorbell.close();
        actors.closeAll();
        replies.flush();
        replies.close();
        post({ kind: 'stopped' });
        port.close();
        resolve();
        return;
      }
      if (msg.kind === 'stats') post({ kind: 'stats', requestId: msg.requestId, models: actors.stats(), resources: threadResources() });
      else actors.control(msg);
      replies.flush();
    });
    doorbell.start();
  });
}
