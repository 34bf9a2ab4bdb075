// The configuration a RedisStateStore (redis_store.ts) has delivered, kept so that it can put it
// back: when Redis comes back holding no state at all for the cluster (restarted with `--save ""`,
// or replaced), the store writes this copy back instead of letting the cluster follow an empty
// Redis and tear down every app (docs/reliability.md, "4. State faults"). Only then: a Redis that
// holds anything (a fresh frontend wrote first, or persistence kept older data) is followed, since
// change counters from two Redis histories cannot be compared.
//
// Policy states (the selection policies' learned weights) are not part of the snapshot; the ones
// this frontend read or wrote are kept too, the most recent `policyEntriesMax`, and are merged back
// (a policy state already in Redis, written since it came back, is kept).

import { applyChange } from './apply_change.js';
import { emptySnapshot, type StateSnapshot } from './records.js';
import type { StateChange } from './state_store.js';

/** The hashes to write back, each as a JSON object of field → value text. */
export interface ReseedPayload {
  appsJson: string;
  modelsJson: string;
  currentJson: string;
  policyJson: string;
}

export class StateMirror {
  #snapshot: StateSnapshot = emptySnapshot();
  readonly #policy = new Map<string, string>();
  readonly #policyEntriesMax: number;

  constructor(policyEntriesMax = 4096) {
    this.#policyEntriesMax = policyEntriesMax;
  }

  /** Start from a loaded snapshot (copied: the caller keeps and changes its own). */
  reset(snapshot: StateSnapshot): void {
    this.#snapshot = copySnapshot(snapshot);
  }

  apply(change: StateChange): void {
    this.#snapshot = change.kind === 'resync' ? copySnapshot(change.snapshot) : applyChange(this.#snapshot, change);
  }

  /** A policy state read from or written to the store. */
  notePolicy(key: string, value: string): void {
    this.#policy.delete(key);
    this.#policy.set(key, value);
    if (this.#policy.size > this.#policyEntriesMax) this.#policy.delete(this.#policy.keys().next().value!);
  }

  get isEmpty(): boolean {
    const s = this.#snapshot;
    return s.apps.size === 0 && s.models.size === 0 && s.currentVersions.size === 0 && this.#policy.size === 0;
  }

  payload(): ReseedPayload {
    const s = this.#snapshot;
    const toJson = <T>(map: Map<string, T>, text: (v: T) => string): string =>
      JSON.stringify(Object.fromEntries([...map].map(([k, v]) => [k, text(v)])));
    return {
      appsJson: toJson(s.apps, (v) => JSON.stringify(v)),
      modelsJson: toJson(s.models, (v) => JSON.stringify(v)),
      currentJson: toJson(s.currentVersions, (v) => v),
      policyJson: toJson(this.#policy, (v) => v),
    };
  }
}

function copySnapshot(s: StateSnapshot): StateSnapshot {
  return { apps: new Map(s.apps), models: new Map(s.models), currentVersions: new Map(s.currentVersions) };
}
