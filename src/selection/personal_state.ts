// Per-user selection state (opt-in per app with the `personalized` parameter): one policy instance
// per key (the integrator picks the key, e.g. `<app>:<uid>`), bounded in memory by an LRU.
//
//   miss   → load(key) from the state store → decode; no stored state, or state that no longer
//            matches the app (other policy, model count or params) → a fresh policy
//   update → observe(key, feedback) marks the entry dirty and, with saveOnUpdate (default), saves it
//   evict  → a dirty entry is saved before it leaves memory
//
// A save is in flight asynchronously; until it settles, a miss for that key decodes the text being
// saved rather than loading (possibly older) state from the store. Save failures go to onError and
// leave nothing dirty behind in memory (the entry may already be gone); they are counted in stats.

import { LRUCache } from 'lru-cache';
import { OptionChecks } from '../lib/options.js';
import type { PolicyConfig } from './policies/params.js';
import type { Feedback, SelectionPolicy } from './policies/policy.js';
import { createPolicy, deserializePolicy } from './policies/registry.js';

export interface PersonalStateOptions {
  /** The app's current policy config and linked-model count; fresh states are built from them. */
  config: PolicyConfig;
  modelCount: number;
  /** Most per-user states kept in memory (≥ 1). */
  maxEntries: number;
  load(key: string): Promise<string | null>;
  save(key: string, json: string): void | Promise<void>;
  /** Save after every observe (default true); false saves only on eviction and flush(). */
  saveOnUpdate?: boolean;
  onError?(op: 'decode' | 'save', key: string, err: unknown): void;
}

interface Entry {
  policy: SelectionPolicy;
  dirty: boolean;
}

export interface PersonalStateStats {
  hits: number;
  misses: number;
  created: number;
  saves: number;
  saveErrors: number;
  evictions: number;
}

export class PersonalStateCache {
  readonly #opts: PersonalStateOptions;
  readonly #cache: LRUCache<string, Entry>;
  readonly #loading = new Map<string, Promise<Entry>>();
  /** key → the newest text handed to save() that has not settled yet. */
  readonly #saving = new Map<string, string>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #paramsJson: string;
  readonly stats: PersonalStateStats = { hits: 0, misses: 0, created: 0, saves: 0, saveErrors: 0, evictions: 0 };

  constructor(opts: PersonalStateOptions) {
    new OptionChecks('personalState').int('maxEntries', opts.maxEntries, 1);
    this.#opts = opts;
    this.#paramsJson = JSON.stringify(opts.config.params);
    this.#cache = new LRUCache<string, Entry>({
      max: opts.maxEntries,
      dispose: (entry, key, reason) => {
        if (reason === 'evict') this.stats.evictions++;
        if ((reason === 'evict' || reason === 'delete') && entry.dirty) {
          entry.dirty = false;
          this.#save(key, entry.policy.serialize());
        }
      },
    });
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The in-memory policy for `key`, or undefined (no load). Refreshes its recency. */
  peek(key: string): SelectionPolicy | undefined {
    return this.#cache.get(key)?.policy;
  }

  /** The policy for `key`: from memory, else loaded from the store, else fresh. */
  async get(key: string): Promise<SelectionPolicy> {
    return (await this.#entry(key)).policy;
  }

  /** Applies feedback to `key`'s policy and persists it (see saveOnUpdate). */
  async observe(key: string, feedback: Feedback): Promise<SelectionPolicy> {
    const entry = await this.#entry(key);
    entry.policy.observe(feedback);
    entry.dirty = true;
    if (this.#opts.saveOnUpdate !== false) {
      entry.dirty = false;
      this.#save(key, entry.policy.serialize());
    }
    return entry.policy;
  }

  /** Saves every dirty entry and waits for all saves in flight. */
  async flush(): Promise<void> {
    for (const [key, entry] of this.#cache.entries()) {
      if (!entry.dirty) continue;
      entry.dirty = false;
      this.#save(key, entry.policy.serialize());
    }
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  async #entry(key: string): Promise<Entry> {
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.stats.hits++;
      return cached;
    }
    this.stats.misses++;
    let pending = this.#loading.get(key);
    if (pending === undefined) {
      pending = this.#loadEntry(key).finally(() => this.#loading.delete(key));
      this.#loading.set(key, pending);
    }
    return pending;
  }

  async #loadEntry(key: string): Promise<Entry> {
    const json = this.#saving.get(key) ?? (await this.#opts.load(key));
    const entry: Entry = { policy: this.#decodeOrCreate(key, json), dirty: false };
    this.#cache.set(key, entry);
    return entry;
  }

  #decodeOrCreate(key: string, json: string | null): SelectionPolicy {
    if (json !== null) {
      try {
        const policy = deserializePolicy(json);
        const { config, modelCount } = this.#opts;
        if (policy.name === config.policy && policy.modelCount === modelCount && JSON.stringify(policy.config.params) === this.#paramsJson)
          return policy;
      } catch (err) {
        this.#opts.onError?.('decode', key, err);
      }
    }
    this.stats.created++;
    return createPolicy(this.#opts.config, this.#opts.modelCount);
  }

  #save(key: string, json: string): void {
    this.#saving.set(key, json);
    this.stats.saves++;
    const done = (async () => {
      try {
        await this.#opts.save(key, json);
      } catch (err) {
        this.stats.saveErrors++;
        this.#opts.onError?.('save', key, err);
      } finally {
        if (this.#saving.get(key) === json) this.#saving.delete(key);
      }
    })();
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
  }
}
