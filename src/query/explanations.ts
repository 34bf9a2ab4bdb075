// Clipper's default_explanation texts: why a query was answered with the app's default output.

import { DefaultReason } from '../ipc/records.js';
import { DefaultKind } from './app_route.js';

export const kExplainNoModel = 'No connected models found for query';
export const kExplainSlo = 'Failed to retrieve a prediction response within the specified latency SLO';
export const kExplainQueueFull = 'The model queue is full: the query was shed';
export const kExplainShutdown = 'The server is shutting down';
export const kExplainNothingArrived = 'No linked model answered within the latency SLO';
export const kExplainDeadlineUnreachable = 'The query could not be answered within its latency SLO: it was shed';
/** Clipper's SLO text, then why: not a backlog (not shed), the model is too slow for the SLO even when idle. */
export const kExplainSloInfeasible = `${kExplainSlo}: it is shorter than the model's latency for a single query`;
/** The explanations of a model's error and of a failed replica start with these, then the detail. */
export const kExplainModelErrorPrefix = 'Model error: ';
export const kExplainReplicaFailedPrefix = 'The model replica failed: ';

/** The explanation of a default reply from a batching worker. */
export function explainDefault(reason: DefaultReason, detail: string): string {
  switch (reason) {
    case DefaultReason.NoReplica:
    case DefaultReason.UnknownModel:
      return kExplainNoModel;
    case DefaultReason.ModelError:
      return `${kExplainModelErrorPrefix}${detail}`;
    case DefaultReason.QueueFull:
      return kExplainQueueFull;
    case DefaultReason.DeadlineUnreachable:
      return kExplainDeadlineUnreachable;
    case DefaultReason.SloInfeasible:
      return kExplainSloInfeasible;
    case DefaultReason.ReplicaFailed:
      return `${kExplainReplicaFailedPrefix}${detail}`;
    default:
      return detail || 'Default output';
  }
}

/**
 * Whether a default reply means an overloaded model queue refused the query (an app may answer 429).
 * SloInfeasible is not shed: with no backlog at all the query would still miss its SLO.
 */
export function isShed(reason: DefaultReason): boolean {
  return reason === DefaultReason.QueueFull || reason === DefaultReason.DeadlineUnreachable;
}

/** Why a batching worker's default reply was the default output, as counted per app (AppStats.defaultKinds). */
export function defaultKindOf(reason: DefaultReason): DefaultKind {
  switch (reason) {
    case DefaultReason.NoReplica:
    case DefaultReason.UnknownModel:
      return DefaultKind.NoModel;
    case DefaultReason.ModelError:
      return DefaultKind.ModelError;
    case DefaultReason.QueueFull:
    case DefaultReason.DeadlineUnreachable:
      return DefaultKind.Shed;
    case DefaultReason.ReplicaFailed:
      return DefaultKind.ReplicaFailed;
    case DefaultReason.SloInfeasible:
      return DefaultKind.SloInfeasible;
    default:
      return DefaultKind.Other;
  }
}
