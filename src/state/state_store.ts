// The one state-store interface. The in-memory store is the embedded default; a Redis store
// implements the same contract for durable, shared state. Writers never update in-process copies
// directly: every change (local or from another frontend) arrives through subscribe(), so there is
// one path from a write to its effect.

import type { AppRecord, ModelRecord, StateSnapshot } from './records.js';

export type StateChange =
  | { kind: 'app_put'; app: AppRecord }
  | { kind: 'app_deleted'; name: string }
  | { kind: 'model_put'; model: ModelRecord }
  | { kind: 'model_deleted'; name: string; version: string }
  | { kind: 'current_version'; name: string; version: string | null }
  /** The store lost and regained its backend: reload everything (listeners reconcile). */
  | { kind: 'resync'; snapshot: StateSnapshot };

export type StateListener = (change: StateChange) => void;

export interface StateStore {
  /** Connect and return the current configuration. */
  open(): Promise<StateSnapshot>;
  putApp(app: AppRecord): Promise<void>;
  deleteApp(name: string): Promise<void>;
  putModel(model: ModelRecord): Promise<void>;
  deleteModel(name: string, version: string): Promise<void>;
  setCurrentVersion(name: string, version: string | null): Promise<void>;
  /** Opaque per-key state for selection policies (JSON text); null when absent. */
  getPolicyState(key: string): Promise<string | null>;
  putPolicyState(key: string, value: string): Promise<void>;
  /** True while writes can be accepted. */
  readonly writable: boolean;
  /** Why writes are refused right now ('' while writable), for error messages. */
  readonly unavailableReason: string;
  subscribe(listener: StateListener): () => void;
  close(): Promise<void>;
}
