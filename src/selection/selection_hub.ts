// The main thread's end of the selection worker: one AppSelection per app with several linked models,
// the port to the worker, and the worker's state-store reads and writes (the store lives here).
//
// An app's selection is rebuilt (a fresh policy, a new snapshot buffer, the worker restores stored
// state only if it was learned for the same policy, parameters and linked models) when its policy,
// parameters or linked models change; otherwise route rebuilds keep it and only update placements.
// Stored parameters that do not fit the links (a weighted_split whose weights do not match the linked
// model count) serve the first linked model (the default policy) and are reported once on stderr.
//
// With frontend threads the queries are not served here: each thread builds its own AppSelection over
// the same shared snapshot from a descriptor (descriptors()), asks for users' probabilities by app and
// generation (requestUser) and relays /update (feedbackFor); every user's probabilities the worker
// sends are told to the listeners (onUserProbs), which pass them on to every thread.

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { ClipperError } from '../errors.js';
import { parsePolicyConfig, type PolicyConfig } from './policies/params.js';
import { createPolicy } from './policies/registry.js';
import { Prng } from '../lib/prng.js';
import type { SelectionEvent, SelectionRequest } from './selection_messages.js';
import { createSnapshotBuffer, SnapshotWriter } from './weights_snapshot.js';
import type { AppRecord } from '../state/records.js';
import type { StateStore } from '../state/state_store.js';
import { AppSelection, feedbackMessage, type AppSelectionDescriptor } from './app_selection.js';
import type { Placement } from '../batching/protocol.js';
import type { AppStats } from '../query/app_route.js';

export interface SelectionHubOptions {
  /** Seed of the main thread's PRNG that samples models on the query path. */
  seed: number;
  /** Per-user policy states kept in memory per personalised app (worker and query path). */
  userEntriesMax: number;
}

/** A user's probabilities under an app's policy (its generation), as the selection worker sent them. */
export type UserProbsListener = (app: string, generation: number, uid: string, probs: readonly number[]) => void;

/** Where the member stats of a selection's sub-queries come from (the query processor's detachedStats). */
export interface MemberStatsSource {
  detachedStats(): AppStats;
}

export interface SelectionStats {
  feedbacks: number;
  feedbackErrors: number;
  workerErrors: number;
}

export class SelectionHub {
  /** Hand this port to the thread that hosts the selection worker (before the first configure). */
  readonly workerPort: MessagePort;
  readonly #port: MessagePort;
  readonly #store: StateStore;
  readonly #memberStats: MemberStatsSource;
  readonly #descriptors = new Map<string, AppSelectionDescriptor>();
  readonly #userProbsListeners: UserProbsListener[] = [];
  readonly #options: SelectionHubOptions;
  readonly #prng: Prng;
  readonly #apps = new Map<string, AppSelection>();
  readonly #feedbackWaiters = new Map<number, { resolve: () => void; reject: (e: Error) => void; sel: AppSelection; uid: string | null }>();
  readonly #warned = new Set<string>();
  readonly stats: SelectionStats = { feedbacks: 0, feedbackErrors: 0, workerErrors: 0 };
  #generation = 0;
  #nextRequestId = 1;
  #stopped: Promise<void> | null = null;
  #markStopped: (() => void) | null = null;
  readonly #storeOps = new Set<Promise<unknown>>();

  constructor(store: StateStore, memberStats: MemberStatsSource, options: SelectionHubOptions) {
    this.#store = store;
    this.#memberStats = memberStats;
    this.#options = options;
    this.#prng = new Prng(options.seed);
    const channel = new MessageChannel();
    this.#port = channel.port1;
    this.workerPort = channel.port2;
    this.#port.on('message', (event: SelectionEvent) => this.#onEvent(event));
  }

  /**
   * The selection of `app` given its linked models' current placements (null when the app has
   * fewer than two linked models: the plain one-model path).
   */
  route(app: AppRecord, placements: Array<Placement | null>): AppSelection | null {
    if (app.linked_models.length < 2) {
      this.forget(app.name);
      return null;
    }
    const models = [...app.linked_models];
    const config = this.#config(app);
    const signature = JSON.stringify([config.policy, config.params, models]);
    let sel = this.#apps.get(app.name);
    if (sel === undefined || sel.signature !== signature) {
      const generation = ++this.#generation;
      const sab = createSnapshotBuffer(models.length);
      const initial = createPolicy(config, models.length);
      new SnapshotWriter(sab).publish(initial.snapshot(), initial.mode);
      const { userEntriesMax } = this.#options;
      const descriptor: AppSelectionDescriptor = {
        app: app.name,
        generation,
        signature,
        config,
        mode: initial.mode,
        models,
        sab,
        userEntriesMax,
      };
      sel = new AppSelection({
        ...descriptor,
        prng: this.#prng,
        memberStats: this.#memberStats.detachedStats(),
        requestUser: (uid) => this.requestUser(app.name, generation, uid),
      });
      this.#apps.set(app.name, sel);
      this.#descriptors.set(app.name, descriptor);
      this.#post({
        kind: 'configure',
        spec: {
          app: app.name,
          generation,
          policy: config.policy,
          params: { ...config.params },
          models,
          sab,
          userEntriesMax,
        },
      });
    }
    sel.placements = placements;
    return sel;
  }

  /** The app is gone or has fewer than two models now. */
  forget(appName: string): void {
    this.#descriptors.delete(appName);
    if (!this.#apps.delete(appName)) return;
    this.#post({ kind: 'remove', app: appName });
  }

  /** Every app selection there is now, for another thread to build its own over the same snapshot. */
  descriptors(): AppSelectionDescriptor[] {
    return [...this.#descriptors.values()];
  }

  /** Calls `listener` with every user's probabilities the worker sends (after a feedback, or asked for). */
  onUserProbs(listener: UserProbsListener): void {
    this.#userProbsListeners.push(listener);
  }

  /** Ask the worker for a user's probabilities under the app's policy of `generation` (the answer goes to the listeners). */
  requestUser(app: string, generation: number, uid: string): void {
    this.#post({ kind: 'user_probs', app, generation, uid });
  }

  /**
   * Feedback relayed from another thread (its losses as the message had them, passed on as they are),
   * for the app's selection of `generation`: refused when the app has no selection now, or a newer one
   * (its policy, parameters or linked models changed meanwhile). The client did nothing wrong and the
   * thread's routes follow soon: a 503 whose Retry-After of 0 says to send it again now.
   */
  feedbackFor(app: string, generation: number, uid: string | null, losses: Array<number | null>, chosen: number | null): Promise<void> {
    const sel = this.#apps.get(app);
    if (sel === undefined || sel.generation !== generation) {
      return Promise.reject(
        new ClipperError(
          'CLP_ERR_OVERLOADED',
          `application '${app}': its model selection changed (policy, parameters or linked models) while this feedback was on its way; send it again`,
          { retryAfterS: 0 },
        ),
      );
    }
    return this.#sendFeedback(sel, uid, losses, chosen);
  }

  /** Hand one feedback's losses to the worker; resolves once the policy has learned from it. */
  feedback(sel: AppSelection, uid: string | null, losses: Float64Array, chosen: number | null): Promise<void> {
    return this.#sendFeedback(sel, uid, losses, chosen);
  }

  #sendFeedback(sel: AppSelection, uid: string | null, losses: Float64Array | Array<number | null>, chosen: number | null): Promise<void> {
    const requestId = this.#nextRequestId++;
    this.stats.feedbacks++;
    return new Promise<void>((resolve, reject) => {
      this.#feedbackWaiters.set(requestId, { resolve, reject, sel, uid });
      this.#post(feedbackMessage(sel, requestId, uid, losses, chosen));
    });
  }

  /** Ask the worker to save everything and stop; resolves when it has (or after `timeoutMs`). */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.#stopped === null) {
      this.#stopped = new Promise<void>((resolve) => {
        this.#markStopped = resolve;
      });
      this.#post({ kind: 'stop' });
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#stopped,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    await Promise.allSettled([...this.#storeOps]);
    for (const waiter of this.#feedbackWaiters.values()) waiter.reject(new ClipperError('CLP_ERR_INTERNAL', 'the server is shutting down'));
    this.#feedbackWaiters.clear();
    this.#port.close();
  }

  #config(app: AppRecord): PolicyConfig {
    try {
      return parsePolicyConfig(app.selection_policy, app.policy_params, app.linked_models.length);
    } catch (err) {
      const message =
        `application '${app.name}': selection policy ${app.selection_policy} does not fit its ${app.linked_models.length} linked models ` +
        `(${err instanceof Error ? err.message : String(err)}); serving the first linked model`;
      if (!this.#warned.has(message)) {
        this.#warned.add(message);
        process.stderr.write(`clipper: ${message}\n`);
      }
      return parsePolicyConfig('default', {}, app.linked_models.length);
    }
  }

  #tellUser(app: string, generation: number, uid: string, probs: readonly number[]): void {
    for (const listener of this.#userProbsListeners) listener(app, generation, uid, probs);
  }

  #post(msg: SelectionRequest): void {
    if (this.#stopped !== null && msg.kind !== 'stop') return;
    this.#port.postMessage(msg);
  }

  #reply(msg: SelectionRequest): void {
    this.#port.postMessage(msg);
  }

  #track<T>(op: Promise<T>): Promise<T> {
    this.#storeOps.add(op);
    void op.finally(() => this.#storeOps.delete(op)).catch(() => undefined);
    return op;
  }

  #onEvent(event: SelectionEvent): void {
    switch (event.kind) {
      case 'feedback_done': {
        const waiter = this.#feedbackWaiters.get(event.requestId);
        if (waiter === undefined) return;
        this.#feedbackWaiters.delete(event.requestId);
        if (event.error !== null) {
          this.stats.feedbackErrors++;
          waiter.reject(
            new ClipperError('CLP_ERR_QUERY_PROCESSING', `the selection policy could not learn from this feedback: ${event.error}`),
          );
          return;
        }
        if (event.userProbs !== null && waiter.uid !== null) {
          waiter.sel.setUser(waiter.uid, event.userProbs);
          this.#tellUser(waiter.sel.app, waiter.sel.generation, waiter.uid, event.userProbs);
        }
        waiter.resolve();
        return;
      }
      case 'user_probs': {
        const sel = this.#apps.get(event.app);
        if (sel !== undefined && sel.generation === event.generation) {
          sel.setUser(event.uid, event.probs);
          this.#tellUser(event.app, event.generation, event.uid, event.probs);
        }
        return;
      }
      case 'store_load':
        void this.#track(this.#store.getPolicyState(event.key)).then(
          (value) => this.#reply({ kind: 'store_loaded', requestId: event.requestId, value, error: null }),
          (err: unknown) => this.#reply({ kind: 'store_loaded', requestId: event.requestId, value: null, error: errorText(err) }),
        );
        return;
      case 'store_save':
        void this.#track(this.#store.putPolicyState(event.key, event.value)).then(
          () => this.#reply({ kind: 'store_saved', requestId: event.requestId, error: null }),
          (err: unknown) => this.#reply({ kind: 'store_saved', requestId: event.requestId, error: errorText(err) }),
        );
        return;
      case 'error':
        this.stats.workerErrors++;
        process.stderr.write(`clipper: selection worker, application '${event.app}': ${event.message}\n`);
        return;
      case 'stopped':
        this.#markStopped?.();
        return;
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
