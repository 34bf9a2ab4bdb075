// The selection worker: owns every app's selection policy and learns from feedback. It runs on a
// long-lived thread of its own or as a second actor inside batching thread 0 (docs/selection.md,
// "Threads"), and talks to the main thread over one MessagePort (selection_messages.ts).
//
//   configure → restore the app's policy from the state store (key `<app>`) when the stored state
//               was made for the same policy, parameters and linked models, else start fresh; then
//               publish its snapshot into the app's SharedArrayBuffer (weights_snapshot.ts)
//   feedback  → policy.observe(losses, chosen) on the app's policy, or on the user's policy when the
//               app is personalised and the feedback has a uid (PersonalStateCache, key `<app>:<uid>`);
//               republish the app snapshot or send the user's probabilities back; save the state
//   stop      → save everything dirty, wait for the saves, answer `stopped`
//
// The state store lives on the main thread: loads and saves are requests over the port.

import type { MessagePort } from 'node:worker_threads';
import { parsePolicyConfig, type PolicyConfig } from './policies/params.js';
import { createPolicy, deserializePolicy } from './policies/registry.js';
import type { Feedback, SelectionPolicy } from './policies/policy.js';
import { PersonalStateCache } from './personal_state.js';
import { appStateKey, userStateKey, type AppPolicySpec, type SelectionEvent, type SelectionRequest } from './selection_messages.js';
import { SnapshotWriter } from './weights_snapshot.js';

interface AppEntry {
  spec: AppPolicySpec;
  config: PolicyConfig;
  policy: SelectionPolicy;
  writer: SnapshotWriter;
  users: PersonalStateCache | null;
  ready: Promise<void>;
  saving: boolean;
  dirty: boolean;
  saveDone: Promise<void>;
}

/** The stored form: the serialised policy plus the linked models it was learned for. */
export function wrapState(models: readonly string[], policyJson: string): string {
  return JSON.stringify({ models, policy: policyJson });
}

/** The serialised policy inside a stored state, or null when it was made for other linked models. */
export function unwrapState(text: string | null, models: readonly string[]): string | null {
  if (text === null) return null;
  try {
    const parsed = JSON.parse(text) as { models?: unknown; policy?: unknown };
    if (!Array.isArray(parsed.models) || typeof parsed.policy !== 'string') return null;
    if (parsed.models.length !== models.length || parsed.models.some((m, i) => m !== models[i])) return null;
    return parsed.policy;
  } catch {
    return null;
  }
}

/** Serves selection requests on `port` until a `stop` request; resolves once stopped. */
export function hostSelectionService(port: MessagePort): Promise<void> {
  return new Promise<void>((resolve) => {
    const service = new SelectionService(
      (event) => port.postMessage(event),
      () => {
        port.close();
        resolve();
      },
    );
    port.on('message', (msg: SelectionRequest) => service.handle(msg));
  });
}

type StoreWaiter = { resolve: (value: string | null) => void; reject: (err: Error) => void };

/** The selection worker's state and request handlers, independent of the port that carries them. */
export class SelectionService {
  readonly #apps = new Map<string, AppEntry>();
  readonly #storeWaiters = new Map<number, StoreWaiter>();
  readonly #post: (event: SelectionEvent) => void;
  readonly #onStopped: () => void;
  #nextRequestId = 1;

  /** `post` sends an event to the main thread; `onStopped` runs once a `stop` request is served. */
  constructor(post: (event: SelectionEvent) => void, onStopped: () => void) {
    this.#post = post;
    this.#onStopped = onStopped;
  }

  handle(msg: SelectionRequest): void {
    switch (msg.kind) {
      case 'configure':
        try {
          this.#configure(msg.spec);
        } catch (err) {
          this.#reportError(msg.spec.app, err);
        }
        break;
      case 'remove': {
        const entry = this.#apps.get(msg.app);
        this.#apps.delete(msg.app);
        if (entry?.users != null) void entry.users.flush();
        break;
      }
      case 'feedback':
        void this.#feedback(msg);
        break;
      case 'user_probs':
        void this.#userProbs(msg);
        break;
      case 'store_loaded':
      case 'store_saved':
        this.#storeAnswered(msg);
        break;
      case 'stop':
        void this.#stop();
        break;
    }
  }

  #storeLoad(key: string): Promise<string | null> {
    return new Promise((resolve, reject) => {
      const requestId = this.#nextRequestId++;
      this.#storeWaiters.set(requestId, { resolve, reject });
      this.#post({ kind: 'store_load', requestId, key });
    });
  }

  #storeSave(key: string, value: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const requestId = this.#nextRequestId++;
      this.#storeWaiters.set(requestId, { resolve: () => resolve(), reject });
      this.#post({ kind: 'store_save', requestId, key, value });
    });
  }

  #storeAnswered(msg: Extract<SelectionRequest, { kind: 'store_loaded' | 'store_saved' }>): void {
    const waiter = this.#storeWaiters.get(msg.requestId);
    this.#storeWaiters.delete(msg.requestId);
    if (waiter === undefined) return;
    if (msg.error !== null) waiter.reject(new Error(msg.error));
    else waiter.resolve(msg.kind === 'store_loaded' ? msg.value : null);
  }

  #reportError(app: string, err: unknown): void {
    this.#post({ kind: 'error', app, message: err instanceof Error ? err.message : String(err) });
  }

  /** Saves the app's shared state; coalesces while a save is in flight. */
  #saveApp(entry: AppEntry): void {
    entry.dirty = true;
    if (entry.saving) return;
    entry.saving = true;
    entry.saveDone = (async () => {
      while (entry.dirty) {
        entry.dirty = false;
        try {
          await this.#storeSave(appStateKey(entry.spec.app), wrapState(entry.spec.models, entry.policy.serialize()));
        } catch (err) {
          this.#reportError(entry.spec.app, err);
        }
      }
      entry.saving = false;
    })();
  }

  #configure(spec: AppPolicySpec): void {
    const previous = this.#apps.get(spec.app);
    if (previous?.users != null) void previous.users.flush();
    const config = parsePolicyConfig(spec.policy, spec.params, spec.models.length);
    const policy = createPolicy(config, spec.models.length);
    const entry: AppEntry = {
      spec,
      config,
      policy,
      writer: new SnapshotWriter(spec.sab),
      users: null,
      ready: Promise.resolve(),
      saving: false,
      dirty: false,
      saveDone: Promise.resolve(),
    };
    if (config.params.personalized) {
      entry.users = new PersonalStateCache({
        config,
        modelCount: spec.models.length,
        maxEntries: spec.userEntriesMax,
        load: async (key) => unwrapState(await this.#storeLoad(key), spec.models),
        save: (key, json) => this.#storeSave(key, wrapState(spec.models, json)),
        onError: (op, key, err) =>
          this.#reportError(spec.app, new Error(`${op} of ${key}: ${err instanceof Error ? err.message : String(err)}`)),
      });
    }
    entry.ready = this.#restore(entry);
    this.#apps.set(spec.app, entry);
    entry.writer.publish(policy.snapshot(), policy.mode);
  }

  /** Replace a fresh policy by the stored one when it was made for the same policy, parameters and models. */
  async #restore(entry: AppEntry): Promise<void> {
    const { spec, config } = entry;
    try {
      const stored = unwrapState(await this.#storeLoad(appStateKey(spec.app)), spec.models);
      if (stored === null) return;
      const restored = deserializePolicy(stored);
      if (
        restored.name === config.policy &&
        restored.modelCount === spec.models.length &&
        JSON.stringify(restored.config.params) === JSON.stringify(config.params)
      ) {
        entry.policy = restored;
        if (this.#apps.get(spec.app) === entry) entry.writer.publish(restored.snapshot(), restored.mode);
      }
    } catch (err) {
      this.#reportError(spec.app, err);
    }
  }

  async #feedback(msg: Extract<SelectionRequest, { kind: 'feedback' }>): Promise<void> {
    const entry = this.#apps.get(msg.app);
    if (entry === undefined || entry.spec.generation !== msg.generation) {
      this.#post({
        kind: 'feedback_done',
        requestId: msg.requestId,
        error: 'the application was reconfigured; feedback dropped',
        userProbs: null,
      });
      return;
    }
    try {
      await entry.ready;
      const losses = Float64Array.from(msg.losses, (l) => (l === null ? NaN : l));
      const fb: Feedback = { uid: msg.uid, losses };
      if (msg.chosen !== null) fb.chosen = msg.chosen;
      let userProbs: number[] | null = null;
      if (entry.users !== null && msg.uid !== null) {
        const policy = await entry.users.observe(userStateKey(msg.app, msg.uid), fb);
        userProbs = Array.from(policy.snapshot());
      } else {
        entry.policy.observe(fb);
        if (this.#apps.get(msg.app) === entry) entry.writer.publish(entry.policy.snapshot(), entry.policy.mode);
        this.#saveApp(entry);
      }
      this.#post({ kind: 'feedback_done', requestId: msg.requestId, error: null, userProbs });
    } catch (err) {
      this.#post({
        kind: 'feedback_done',
        requestId: msg.requestId,
        error: err instanceof Error ? err.message : String(err),
        userProbs: null,
      });
    }
  }

  async #userProbs(msg: Extract<SelectionRequest, { kind: 'user_probs' }>): Promise<void> {
    const entry = this.#apps.get(msg.app);
    if (entry === undefined || entry.users === null || entry.spec.generation !== msg.generation) return;
    try {
      const policy = await entry.users.get(userStateKey(msg.app, msg.uid));
      this.#post({ kind: 'user_probs', app: msg.app, generation: msg.generation, uid: msg.uid, probs: Array.from(policy.snapshot()) });
    } catch (err) {
      this.#reportError(msg.app, err);
    }
  }

  /** Save everything dirty, wait for the saves, answer `stopped`. */
  async #stop(): Promise<void> {
    for (const entry of this.#apps.values()) {
      await entry.ready;
      if (entry.users !== null) await entry.users.flush();
      await entry.saveDone;
    }
    this.#post({ kind: 'stopped' });
    this.#onStopped();
  }
}
