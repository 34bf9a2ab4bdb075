// A frontend thread's query core, the same parts cluster.ts wires on the main thread when that serves
// queries itself: its RingPort to every batching worker (batching/ring_port.ts), a QueryProcessor
// (its own tokens, cache and deadline watch), a RouteTable rebuilt from main's 'routes' messages, the
// selection of the thread (thread_selection.ts) and a QueryPipeline over them. Also what the core
// does with main's configuration messages, and the counters it reports to main.

import { RingPort } from '../batching/ring_port.js';
import { RouteTable } from '../control/route_table.js';
import type { Clock } from '../lib/clock.js';
import { QueryPipeline } from '../query/pipeline.js';
import { QueryProcessor } from '../query/query_processor.js';
import type { FrontendControl, FrontendEvent, FrontendInit, FrontendStats, PipelineStatsWire } from './messages.js';
import { ThreadSelection } from './thread_selection.js';

export interface ThreadQueryCore {
  readonly ringPort: RingPort;
  readonly processor: QueryProcessor;
  readonly routeTable: RouteTable;
  readonly selection: ThreadSelection;
  readonly pipeline: QueryPipeline;
  readonly clock: Clock;
}

/** Builds the core (the ring port is not started: start() it once the thread serves). */
export function buildThreadQueryCore(init: FrontendInit, clock: Clock, post: (event: FrontendEvent) => void): ThreadQueryCore {
  const q = init.query;
  const ringBytes = init.rings.queryRings[0]?.capacityBytes ?? 0;
  // The ring port calls back into the processor, which submits through the port: built in turn.
  const holder: { processor: QueryProcessor | null } = { processor: null };
  const ringPort = new RingPort(
    init.rings,
    {
      ringBytes,
      spinCount: q.ringSpinCount,
      pollUs: q.ringPollUs,
      shouldPoll: () => (holder.processor?.pendingCount ?? 0) <= q.pollPendingMax,
    },
    (token, status, reason, text) => holder.processor?.onReply(token, status, reason, text),
  );
  const processor = new QueryProcessor({
    pool: ringPort,
    clock,
    cacheBytesMax: q.cacheBytesMax,
    frontendIndex: init.frontendIndex,
    frontendCount: init.frontendCount,
  });
  holder.processor = processor;
  const selection = new ThreadSelection({
    seed: q.selectionSeed + init.frontendIndex,
    post,
    memberStats: () => processor.detachedStats(),
  });
  const routeTable = new RouteTable({
    appStats: (name) => processor.appStats(name),
    selection,
    modelSloMs: q.oipTimeoutMsDefault,
  });
  const pipeline = new QueryPipeline({ processor, routes: routeTable.routes, hub: selection, sloMicrosMax: q.sloMicrosMax });
  return { ringPort, processor, routeTable, selection, pipeline, clock };
}

type CoreControl = Exclude<FrontendControl, { kind: 'stats' | 'answer' | 'close' | 'replicas' | 'fail' }>;

/** Applies one of main's configuration messages to the core (in the order they came). */
export function applyCoreControl(core: ThreadQueryCore, msg: CoreControl): void {
  switch (msg.kind) {
    case 'routes':
      core.selection.setDescriptors(msg.selections);
      core.routeTable.rebuild(msg.snapshot, new Map(msg.placements));
      return;
    case 'cache_enabled':
      core.processor.cache.setEnabled(msg.placement, msg.enabled);
      return;
    case 'cache_forget_model':
      core.processor.cache.forgetModel(msg.placement);
      return;
    case 'forget_app':
      core.processor.forgetApp(msg.app);
      core.selection.forget(msg.app);
      return;
    case 'user_probs':
      core.selection.setUser(msg.app, msg.generation, msg.uid, msg.probs);
      return;
    case 'feedback_done':
      core.selection.onFeedbackDone(msg.requestId, msg.error);
      return;
  }
}

/** The core's counters as plain data, for main to add up with the other threads' (stats_merge.ts). */
export function threadStats(core: ThreadQueryCore): FrontendStats {
  const { processor } = core;
  const nowMs = core.clock.nowMs();
  const pipelines: Array<[string, PipelineStatsWire]> = [];
  for (const [app, stats] of core.routeTable.pipelineStats.all()) {
    pipelines.push([
      app,
      {
        stages: [...stats.stages],
        memberStats: stats.memberStats,
        runErrors: stats.runErrors,
        arrivalRateQps: stats.arrivalRateQps(nowMs),
      },
    ]);
  }
  return {
    counters: { ...processor.counters },
    pendingCount: processor.pendingCount,
    cache: processor.cache.stats(),
    apps: [...processor.allAppStats()],
    pipelines,
  };
}
