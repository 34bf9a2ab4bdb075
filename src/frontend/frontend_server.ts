// The query server with every protocol on it: Clipper's REST routes and /metrics (clipper_rest.ts),
// the WebSocket stream (ws_stream.ts) and the Open Inference Protocol (oip/oip_routes.ts). The main
// thread when it serves queries itself (cluster.ts) and each frontend thread
// (frontend_thread/frontend_worker.ts) start it the same way, so both serve the same routes.

import type { ModelRoute } from '../control/model_routes.js';
import { startQueryServer, type QueryServer, type QueryServerDeps, type QueryServerOptions } from './clipper_rest.js';
import type { ReplicaReady } from './oip/model_metadata.js';
import { registerOipRoutes } from './oip/oip_routes.js';
import type { ModelStatsSource } from './oip/stats.js';
import type { StreamLimits } from './stream_limits.js';
import { registerStreamRoutes, type StreamServer } from './ws_stream.js';

export interface FrontendServerDeps extends Omit<QueryServerDeps, 'registerRoutes'> {
  /** Model name → route (a RouteTable's models), for OIP requests that address a model directly. */
  models: ReadonlyMap<string, ModelRoute>;
  /** The WebSocket stream's limits (the rest: stream_limits.ts's defaults). */
  stream: Partial<StreamLimits>;
  /** Whether the server serves (OIP readiness): its state is loaded and it is not shutting down. */
  ready(): boolean;
  /** Whether a model version has a connected replica (OIP model readiness). */
  replicaReady: ReplicaReady;
  /** Every model version's batching measurements (OIP statistics). */
  actorStats(): Promise<readonly ModelStatsSource[]>;
}

export interface FrontendServer extends QueryServer {
  /** The WebSocket stream connections (closeAll at shutdown). */
  readonly stream: StreamServer;
}

/** Starts the query server with the REST, stream and OIP routes; listens as options.listen says. */
export async function startFrontendServer(options: QueryServerOptions, deps: FrontendServerDeps): Promise<FrontendServer> {
  const { pipeline } = deps;
  // Set while startQueryServer registers the routes (a holder: TypeScript does not see the closure assign it).
  const registered: { stream: StreamServer | null } = { stream: null };
  const server = await startQueryServer(options, {
    pipeline,
    metricsText: deps.metricsText,
    metricsJson: deps.metricsJson,
    registerRoutes: (app) => {
      registered.stream = registerStreamRoutes(app, { pipeline, limits: deps.stream });
      registerOipRoutes(app, {
        pipeline,
        models: deps.models,
        bodyBytesMax: options.bodyBytesMax,
        ready: deps.ready,
        replicaReady: deps.replicaReady,
        actorStats: deps.actorStats,
      });
    },
  });
  const stream = registered.stream;
  if (stream === null) throw new Error('startQueryServer did not register the protocol routes');
  return { port: server.port, app: server.app, close: server.close, stream };
}
