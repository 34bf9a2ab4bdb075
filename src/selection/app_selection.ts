// The query path's view of one app's selection policy (main thread). It never asks the selection
// worker anything per query: it copies the snapshot the worker publishes into shared memory
// (weights_snapshot.ts: a seqlock read of one Float64 per linked model) and samples with the main
// thread's seeded PRNG.
//
//   mode 'one' (default, exp3, epsilon_greedy, ucb1, weighted_split): pick() → one model index
//   mode 'all' (exp4): weights() → every model is queried, outputs combined (query/selection_route.ts)
//
// Personalised apps keep the probabilities of recently seen users in an LRU here, sent by the worker
// after each feedback for that user or on request; a user not in it is served from the app's snapshot
// while its state is fetched in the background.

import { LRUCache } from 'lru-cache';
import type { PolicyConfig } from './policies/params.js';
import type { SelectionMode } from './policies/policy.js';
import type { Prng } from '../lib/prng.js';
import { makeLossFn, type LossFn } from './policies/loss_fn.js';
import { sampleIndex } from './policies/sample_index.js';
import { SnapshotReader } from './weights_snapshot.js';
import type { Placement } from '../batching/protocol.js';
import type { AnswerExtra } from '../query/answer.js';
import type { AppStats } from '../query/app_route.js';

export interface AppSelectionInit {
  app: string;
  generation: number;
  /** Identifies policy + parameters + linked models; a change starts a fresh policy. */
  signature: string;
  config: PolicyConfig;
  mode: SelectionMode;
  models: string[];
  sab: SharedArrayBuffer;
  prng: Prng;
  userEntriesMax: number;
  /** Stats object for the per-model sub-queries of Exp4 and of feedback (not the app's own). */
  memberStats: AppStats;
  /** Ask the selection worker for a user's probabilities (answered asynchronously). */
  requestUser(uid: string): void;
}

/**
 * What another thread needs to build the same AppSelection over the same shared snapshot: the init
 * less what is the thread's own (its PRNG, its member stats, its way to ask for a user). Plain data.
 */
export type AppSelectionDescriptor = Omit<AppSelectionInit, 'prng' | 'memberStats' | 'requestUser'>;

/**
 * One feedback as it crosses a thread: a frontend thread → main (frontend_thread/messages.ts) and
 * main → the selection worker (selection_messages.ts) carry the same message, so main passes a
 * relayed one's losses on as they came.
 */
export interface FeedbackMessage {
  kind: 'feedback';
  requestId: number;
  app: string;
  /** The app's selection it was scored under (AppSelection.generation). */
  generation: number;
  uid: string | null;
  /** losses[i]: model i's loss in [0, 1], or null when it was not scored. */
  losses: Array<number | null>;
  chosen: number | null;
}

/**
 * The message of one feedback for `sel`: the user only for a personalised app; the query path's
 * losses (a Float64Array, NaN where not scored) as the message has them (null there); losses already
 * in that form (a relayed message's) are taken as they are, not converted back and forth.
 */
export function feedbackMessage(
  sel: AppSelection,
  requestId: number,
  uid: string | null,
  losses: Float64Array | Array<number | null>,
  chosen: number | null,
): FeedbackMessage {
  return {
    kind: 'feedback',
    requestId,
    app: sel.app,
    generation: sel.generation,
    uid: sel.personalized ? uid : null,
    losses: losses instanceof Float64Array ? Array.from(losses, (l) => (Number.isNaN(l) ? null : l)) : losses,
    chosen,
  };
}

export class AppSelection {
  readonly app: string;
  readonly generation: number;
  readonly signature: string;
  readonly config: PolicyConfig;
  readonly mode: SelectionMode;
  readonly models: readonly string[];
  readonly modelCount: number;
  /** Per model, the answer's extra fields when model i served it ("models": [name]), built once. */
  readonly modelExtras: readonly AnswerExtra[];
  readonly lossFn: LossFn;
  readonly memberStats: AppStats;
  /** Whether feedback changes anything (default and weighted_split do not learn). */
  readonly learns: boolean;
  /** Placement of each linked model's current version (null: none deployed); set on route rebuilds. */
  placements: Array<Placement | null> = [];
  readonly #reader: SnapshotReader;
  readonly #probs: Float64Array;
  readonly #prng: Prng;
  /** The default policy always serves model 0: no snapshot read, no sample. */
  readonly #fixedIndex: number;
  readonly #users: LRUCache<string, Float64Array> | null;
  readonly #requested = new Set<string>();
  readonly #requestUser: (uid: string) => void;
  readonly #userEntriesMax: number;

  constructor(init: AppSelectionInit) {
    this.app = init.app;
    this.generation = init.generation;
    this.signature = init.signature;
    this.config = init.config;
    this.mode = init.mode;
    this.models = init.models;
    this.modelCount = init.models.length;
    this.modelExtras = init.models.map((m): AnswerExtra => Object.freeze({ models: Object.freeze([m]) }));
    this.lossFn = makeLossFn({ kind: init.config.params.loss, scale: init.config.params.lossScale });
    this.memberStats = init.memberStats;
    this.learns = init.config.policy !== 'default' && init.config.policy !== 'weighted_split';
    this.#reader = new SnapshotReader(init.sab);
    this.#probs = new Float64Array(init.models.length);
    this.#prng = init.prng;
    this.#fixedIndex = init.config.policy === 'default' ? 0 : -1;
    this.#users = init.config.params.personalized ? new LRUCache<string, Float64Array>({ max: init.userEntriesMax }) : null;
    this.#requestUser = init.requestUser;
    this.#userEntriesMax = init.userEntriesMax;
  }

  get personalized(): boolean {
    return this.#users !== null;
  }

  /** The probabilities (or weights) that apply to `uid`, in a buffer valid until the next call. */
  #current(uid: string | null): Float64Array {
    if (uid !== null && this.#users !== null) {
      const user = this.#users.get(uid);
      if (user !== undefined) return user;
      if (!this.#requested.has(uid)) {
        if (this.#requested.size >= this.#userEntriesMax) this.#requested.clear();
        this.#requested.add(uid);
        this.#requestUser(uid);
      }
    }
    this.#reader.read(this.#probs);
    return this.#probs;
  }

  /** Mode 'one': the model index to serve this query (-1 only if no model has probability > 0). */
  pick(uid: string | null): number {
    if (this.#fixedIndex >= 0) return this.#fixedIndex;
    return sampleIndex(this.#current(uid), this.#prng.next(), this.modelCount);
  }

  /** Mode 'all': a copy of the combine weights for `uid`. */
  weights(uid: string | null): Float64Array {
    return Float64Array.from(this.#current(uid));
  }

  /** The worker sent a user's probabilities (after feedback, or on request). */
  setUser(uid: string, probs: readonly number[]): void {
    if (this.#users === null || probs.length !== this.modelCount) return;
    this.#users.set(uid, Float64Array.from(probs));
    this.#requested.delete(uid);
  }

  /** Users whose probabilities are held here (personalised apps). */
  get userCount(): number {
    return this.#users?.size ?? 0;
  }
}
