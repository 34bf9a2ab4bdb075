// The fake Kubernetes API's object store: every object by resource, namespace and name, one global
// resourceVersion bumped by each write (as etcd's revision), and the history of changes that a watch
// from an older resourceVersion replays. `compact()` forgets the history, as etcd compaction does,
// so such a watch then gets 410 Gone.

import { clone } from './fake_kube_patch.js';
import type { Json, ResourceInfo } from './fake_kube_shapes.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  type: ChangeType;
  info: ResourceInfo;
  /** The object after the change (for DELETED: its last state, with the deletion's resourceVersion). */
  obj: Json;
  /** The object before the change (undefined for ADDED). */
  prev: Json | undefined;
}

/** Older changes are dropped (and count as compacted) beyond this many. */
const kHistoryMax = 20_000;

export class KubeStore {
  #rv = 1000;
  #objects = new Map<string, Json>();
  #history: StoreEvent[] = [];
  #compactedRv = 0;
  readonly #listeners = new Set<(e: StoreEvent) => void>();

  get rv(): number {
    return this.#rv;
  }

  /** Watches from a resourceVersion older than this get 410 Gone. */
  get compactedRv(): number {
    return this.#compactedRv;
  }

  #key(info: ResourceInfo, namespace: string | undefined, name: string): string {
    return `${info.resource}/${info.namespaced ? (namespace ?? '') : ''}/${name}`;
  }

  /** A copy of the stored object, or undefined. */
  get(info: ResourceInfo, namespace: string | undefined, name: string): Json | undefined {
    return clone(this.#objects.get(this.#key(info, namespace, name)));
  }

  /** Copies of the objects of a resource (in one namespace, or all), ordered by namespace then name as etcd lists them. */
  list(info: ResourceInfo, namespace?: string): Json[] {
    const prefix = namespace === undefined || !info.namespaced ? `${info.resource}/` : `${info.resource}/${namespace}/`;
    return [...this.#objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, obj]) => clone(obj));
  }

  /** Stores an object (ADDED when new, else MODIFIED) with a new resourceVersion; returns a copy. */
  write(info: ResourceInfo, obj: Json): Json {
    const key = this.#key(info, obj.metadata.namespace, obj.metadata.name);
    const prev = this.#objects.get(key);
    this.#rv += 1;
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(this.#rv);
    this.#objects.set(key, stored);
    this.#record({ rv: this.#rv, type: prev === undefined ? 'ADDED' : 'MODIFIED', info, obj: stored, prev });
    return clone(stored);
  }

  /** Removes an object (DELETED); returns its last state, or undefined when there was none. */
  delete(info: ResourceInfo, namespace: string | undefined, name: string): Json | undefined {
    const key = this.#key(info, namespace, name);
    const prev = this.#objects.get(key);
    if (prev === undefined) return undefined;
    this.#objects.delete(key);
    this.#rv += 1;
    const last = clone(prev);
    last.metadata.resourceVersion = String(this.#rv);
    this.#record({ rv: this.#rv, type: 'DELETED', info, obj: last, prev });
    return clone(last);
  }

  /** The changes after `rv`, oldest first. */
  since(rv: number): StoreEvent[] {
    return this.#history.filter((e) => e.rv > rv);
  }

  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history = [];
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #record(e: StoreEvent): void {
    this.#history.push(e);
    if (this.#history.length > kHistoryMax) {
      const dropped = this.#history.splice(0, this.#history.length - kHistoryMax / 2);
      this.#compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const fn of [...this.#listeners]) fn(e);
  }
}
