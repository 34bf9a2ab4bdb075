// What each frontend thread starts with (messages.ts FrontendInit), from the cluster's configuration:
// the same server and query-core settings the main thread uses with one frontend, and the thread's
// own rings to every batching worker.

import type { FrontendRings } from '../batching/ring_port.js';
import type { ClipperConfig } from '../config.js';
import { kStreamDefaults, type StreamLimits } from '../frontend/stream_limits.js';
import { tlsOf } from '../http/app_factory.js';
import type { FrontendInit } from './messages.js';

/** `ring`: how a frontend reads its reply rings, the same for the main thread's own (cluster_parts.ts frontendRingOf). */
export function frontendInitOf(
  config: Readonly<ClipperConfig>,
  rings: FrontendRings,
  stream: Partial<StreamLimits> | undefined,
  ring: Pick<FrontendInit['query'], 'ringSpinCount' | 'ringPollUs' | 'pollPendingMax'>,
): Omit<FrontendInit, 'port' | 'frontendIndex' | 'frontendCount'> {
  return {
    rings,
    server: {
      host: config.host,
      port: config.queryPort,
      bodyBytesMax: config.bodyBytesMax,
      tls: tlsOf(config),
      stream: { ...kStreamDefaults, messageBytesMax: config.bodyBytesMax, ...stream },
      accept: config.frontendAccept,
    },
    query: {
      cacheBytesMax: config.cacheBytesMax,
      sloMicrosMax: config.sloMicrosMax,
      oipTimeoutMsDefault: config.oipTimeoutMsDefault,
      selectionSeed: config.selectionSeed,
      selectionUserStatesMax: config.selectionUserStatesMax,
      ringSpinCount: ring.ringSpinCount,
      ringPollUs: ring.ringPollUs,
      pollPendingMax: ring.pollPendingMax,
    },
  };
}
