// A batching worker thread (its task, started by threads.ts, runs for the thread's life). It hosts
// the actors of every model version assigned to this thread (worker_actors.ts), drains the query
// ring, and answers through the reply ring. Control messages (models and replicas coming and going:
// rare) arrive on a MessagePort (protocol.ts); queries never use postMessage.

import { getHeapStatistics } from 'node:v8';
import { Doorbell } from '../ipc/doorbell.js';
import { RingConsumer, RingProducer } from '../ipc/ring_buffer.js';
import { systemClock } from '../lib/clock.js';
import { hostSelectionService } from '../selection/selection_service.js';
import { ModelActor, type ActorIo } from './model_actor.js';
import type { ThreadResources, WorkerControl, WorkerEvent, WorkerInit } from './protocol.js';
import { socketConnector } from './replica_link.js';
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
  const queries = new RingConsumer(init.queryRing);
  const replies = new ReplyWriter(new RingProducer(init.replyRing));
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
  const doorbell = new Doorbell(
    queries,
    {
      spinCount: init.spinCount,
      waitTimeoutMs: 50,
      pollUs: init.pollUs,
      wantsWake: () => actors.wantsWake(),
      shouldPoll: () => actors.shouldPoll(init.pollUs),
    },
    () => {
      actors.drain();
      replies.flush();
    },
  );

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
