// The messages between the main thread (SelectionHub, selection_hub.ts) and the selection
// worker (selection_service.ts) over one MessagePort. Queries never use this port: the query path
// reads the snapshots the worker publishes in shared memory. Feedback, configuration and the worker's
// state-store reads and writes (the store lives on the main thread) do.

import type { FeedbackMessage } from './app_selection.js';

export interface AppPolicySpec {
  app: string;
  /** Bumped on every (re)configuration of any app; feedback for an older generation is dropped. */
  generation: number;
  policy: string;
  params: Record<string, unknown> | undefined;
  /** Linked model names, in order; a policy's model i is models[i]. */
  models: string[];
  /** The snapshot buffer the worker publishes into (createSnapshotBuffer(models.length)). */
  sab: SharedArrayBuffer;
  /** Per-user states kept in memory (personalised apps). */
  userEntriesMax: number;
}

export type SelectionRequest =
  | { kind: 'configure'; spec: AppPolicySpec }
  | { kind: 'remove'; app: string }
  /** One feedback: the same message a frontend thread relays to main (app_selection.ts feedbackMessage). */
  | FeedbackMessage
  /** Load (if needed) a user's state and send its probabilities back (`user_probs`). */
  | { kind: 'user_probs'; app: string; generation: number; uid: string }
  | { kind: 'store_loaded'; requestId: number; value: string | null; error: string | null }
  | { kind: 'store_saved'; requestId: number; error: string | null }
  | { kind: 'stop' };

export type SelectionEvent =
  | { kind: 'feedback_done'; requestId: number; error: string | null; userProbs: number[] | null }
  | { kind: 'user_probs'; app: string; generation: number; uid: string; probs: number[] }
  | { kind: 'store_load'; requestId: number; key: string }
  | { kind: 'store_save'; requestId: number; key: string; value: string }
  | { kind: 'error'; app: string; message: string }
  | { kind: 'stopped' };

/** State-store key of an app's shared policy state. */
export function appStateKey(app: string): string {
  return app;
}

/** State-store key of a user's policy state (app names cannot contain ':'). */
export function userStateKey(app: string, uid: string): string {
  return `${app}:${uid}`;
}
