// The messages between the main thread (the group of frontend threads, frontend_group.ts) and one
// frontend thread (frontend_worker.ts) over one MessagePort, and the thread's start-up data. Queries
// never use this port: they go through the rings (batching/ring_port.ts). Configuration (routes,
// selections, cache switches), feedback, users' selection probabilities, stats and the metrics
// scrape do, and they are rare. Messages on one port arrive in order, so a 'routes' followed by
// 'cache_*' applies in that order.
//
// A thread that fails (a bug escaped one of its handlers) stops serving, posts 'failing' and keeps its
// uWS app open until main has stopped handing it connections and answers with 'close'
// (frontend_worker.ts says why and how long it waits).

import type { MessagePort } from 'node:worker_threads';
import type { ReplicaStatus } from '../admin/admin_context.js';
import type { FrontendRings } from '../batching/ring_port.js';
import type { Placement } from '../batching/protocol.js';
import type { PredictionCacheStats } from '../cache/cache_types.js';
import type { WireError } from '../errors.js';
import type { StreamLimits } from '../frontend/stream_limits.js';
import type { TlsFiles } from '../http/app_factory.js';
import type { AppStats } from '../query/app_route.js';
import type { QueryCounters } from '../query/query_processor.js';
import type { StageStats } from '../query/stage_stats.js';
import type { AppSelectionDescriptor, FeedbackMessage } from '../selection/app_selection.js';
import type { StateSnapshot } from '../state/records.js';

/** How frontend threads share the query port (config.frontendAccept). */
export type FrontendAccept = 'reuseport' | 'acceptor';

/** What a frontend thread starts with (structured-cloneable; `port` is transferred). */
export interface FrontendInit {
  /** 0 .. frontendCount − 1: the top bits of its queries' tokens (ipc/records.ts), and its rings. */
  frontendIndex: number;
  frontendCount: number;
  rings: FrontendRings;
  /** FrontendControl in, FrontendEvent out. */
  port: MessagePort;
  server: {
    host: string;
    /**
     * reuseport: the port to listen on; 0 only for thread 0 (it picks a free port and listens on it
     * so that the others can share it: the main end starts them with the port thread 0 reported).
     * acceptor: unused (the main thread listens).
     */
    port: number;
    bodyBytesMax: number;
    tls: TlsFiles | null;
    /** The WebSocket stream's limits, complete (messageBytesMax included). */
    stream: StreamLimits;
    accept: FrontendAccept;
  };
  query: {
    cacheBytesMax: number;
    sloMicrosMax: number;
    oipTimeoutMsDefault: number;
    /** The thread's PRNG for model selection is seeded with selectionSeed + frontendIndex. */
    selectionSeed: number;
    selectionUserStatesMax: number;
    /** The reply rings' settings of a frontend (cluster_parts.ts frontendRingOf: the main thread's own with one frontend). */
    ringSpinCount: number;
    ringPollUs: number;
    /** The thread polls its reply rings (ringPollUs) only while at most this many of its queries are open. */
    pollPendingMax: number;
  };
}

/** What main's SelectionHub made for an app with a selection: the thread builds its own AppSelection over the same SAB. */
export type SelectionDescriptor = AppSelectionDescriptor;

/** A pipeline app's counters as plain data (AppPipelineStats's fields, and its arrival rate when sent). */
export interface PipelineStatsWire {
  stages: StageStats[];
  memberStats: AppStats;
  runErrors: number;
  /** AppPipelineStats.arrivalRateQps at the thread's clock when the stats were taken. */
  arrivalRateQps: number;
}

/** One thread's query-core counters (the answer to 'stats'). */
export interface FrontendStats {
  counters: QueryCounters;
  pendingCount: number;
  cache: PredictionCacheStats;
  apps: Array<[string, AppStats]>;
  pipelines: Array<[string, PipelineStatsWire]>;
}

/** What a thread asks the main thread for (the answer's value: metrics_text {contentType, body}, metrics_json string, actor_stats ModelActorStats[]). */
export type FrontendAsk = 'metrics_text' | 'metrics_json' | 'actor_stats';

/**
 * An error across the port: WireError keeps its code (so the thread answers the same HTTP status as
 * the main thread would); a plain string is taken as CLP_ERR_QUERY_PROCESSING for feedback and
 * CLP_ERR_INTERNAL for an ask.
 */
export type FrontendError = WireError | string;

/** Main → thread. */
export type FrontendControl =
  | { kind: 'routes'; snapshot: StateSnapshot; placements: Array<[string, Placement]>; selections: SelectionDescriptor[] }
  /** For OIP model readiness. */
  | { kind: 'replicas'; replicas: ReplicaStatus[] }
  | { kind: 'cache_enabled'; placement: Placement; enabled: boolean }
  | { kind: 'cache_forget_model'; placement: Placement }
  | { kind: 'forget_app'; app: string }
  | { kind: 'user_probs'; app: string; generation: number; uid: string; probs: number[] }
  | { kind: 'feedback_done'; requestId: number; error: FrontendError | null }
  | { kind: 'stats'; requestId: number }
  /** To a thread's 'ask'. */
  | { kind: 'answer'; requestId: number; value: unknown; error: FrontendError | null }
  | { kind: 'close' }
  /**
   * Tests only (nothing a client sends reaches it): the thread throws `reason` from a handler on its
   * event loop, as a bug would, and goes the way of a failed thread.
   */
  | { kind: 'fail'; reason: string };

/** Thread → main. */
export type FrontendEvent =
  /** port: where it listens (−1 with accept 'acceptor'); descriptor: its app's getDescriptor() with 'acceptor', else null. */
  | { kind: 'listening'; port: number; descriptor: unknown | null }
  /** /update's losses, for main's SelectionHub to learn from (by app and the generation it was scored under). */
  | FeedbackMessage
  | { kind: 'user_probs_request'; app: string; generation: number; uid: string }
  | { kind: 'stats'; requestId: number; stats: FrontendStats }
  | { kind: 'ask'; requestId: number; what: FrontendAsk; format?: string }
  /**
   * A bug escaped a handler (`error`: what it threw): the thread no longer serves, its open queries
   * were answered with the shutdown default; its app stays open until main, having stopped handing it
   * connections, sends 'close'.
   */
  | { kind: 'failing'; error: string }
  | { kind: 'closed' };
