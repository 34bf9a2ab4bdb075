// The embedded default state store: a process-local Map. Changes are delivered to listeners
// synchronously, before the write's promise resolves.

import { emptySnapshot, modelKey, type AppRecord, type ModelRecord, type StateSnapshot } from './records.js';
import type { StateChange, StateListener, StateStore } from './state_store.js';

function cloneSnapshot(s: StateSnapshot): StateSnapshot {
  return {
    apps: new Map([...s.apps].map(([k, v]) => [k, structuredClone(v)])),
    models: new Map([...s.models].map(([k, v]) => [k, structuredClone(v)])),
    currentVersions: new Map(s.currentVersions),
  };
}

export class MemoryStateStore implements StateStore {
  readonly #state = emptySnapshot();
  readonly #policyState = new Map<string, string>();
  readonly #listeners = new Set<StateListener>();
  readonly writable = true;
  readonly unavailableReason = '';

  async open(): Promise<StateSnapshot> {
    return cloneSnapshot(this.#state);
  }

  async putApp(app: AppRecord): Promise<void> {
    this.#state.apps.set(app.name, structuredClone(app));
    this.#emit({ kind: 'app_put', app: structuredClone(app) });
  }

  async deleteApp(name: string): Promise<void> {
    if (this.#state.apps.delete(name)) this.#emit({ kind: 'app_deleted', name });
  }

  async putModel(model: ModelRecord): Promise<void> {
    this.#state.models.set(modelKey(model.model_name, model.model_version), structuredClone(model));
    this.#emit({ kind: 'model_put', model: structuredClone(model) });
  }

  async deleteModel(name: string, version: string): Promise<void> {
    if (this.#state.models.delete(modelKey(name, version))) this.#emit({ kind: 'model_deleted', name, version });
  }

  async setCurrentVersion(name: string, version: string | null): Promise<void> {
    if (version === null) this.#state.currentVersions.delete(name);
    else this.#state.currentVersions.set(name, version);
    this.#emit({ kind: 'current_version', name, version });
  }

  async getPolicyState(key: string): Promise<string | null> {
    return this.#policyState.get(key) ?? null;
  }

  async putPolicyState(key: string, value: string): Promise<void> {
    this.#policyState.set(key, value);
  }

  subscribe(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }

  #emit(change: StateChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
