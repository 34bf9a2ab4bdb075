// The main ↔ batching-worker contract: the one module both ends import (control messages, the actor
// spec and its stats, where an actor lives). Ring record layouts are ipc/records.ts.

/** Where a model-version actor lives: its worker thread and its index there. Opaque above batching/. */
export interface Placement {
  readonly workerIndex: number;
  readonly modelIndex: number;
}
