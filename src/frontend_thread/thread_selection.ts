// A frontend thread's side of model selection (the thread has no SelectionHub: the hub, the
// selection worker and the state store stay on the main thread).
//
// Queries: the route table asks for an app's selection (RouteSources.selection); it is an
// AppSelection over the shared snapshot buffer main's hub made for the app (a SelectionDescriptor in
// the last 'routes' message), sampled with this thread's own PRNG: no round trip per query. It is
// reused while the app's generation stays the same, so its users' probabilities survive rebuilds.
// Users: an unknown user's probabilities are asked of main ('user_probs_request'); main broadcasts
// every user's probabilities the worker learns ('user_probs') to every thread.
// Feedback: /update's losses go to main ('feedback', by app and generation) and the request waits for
// its 'feedback_done' (FeedbackPort, query/feedback.ts).

import { ClipperError, fromWireError } from '../errors.js';
import { Prng } from '../lib/prng.js';
import type { Placement } from '../batching/protocol.js';
import type { AppStats } from '../query/app_route.js';
import type { FeedbackPort } from '../query/feedback.js';
import { AppSelection, feedbackMessage } from '../selection/app_selection.js';
import type { AppRecord } from '../state/records.js';
import type { FrontendError, FrontendEvent, SelectionDescriptor } from './messages.js';

export interface ThreadSelectionOptions {
  /** Seed of this thread's PRNG (selectionSeed + frontendIndex). */
  seed: number;
  /** Where the thread's events go (its port to main). */
  post(event: FrontendEvent): void;
  /** Stats of a selection's per-model sub-queries (the thread's QueryProcessor.detachedStats). */
  memberStats(): AppStats;
}

interface FeedbackWaiter {
  resolve(): void;
  reject(err: Error): void;
}

/** A string error from main: what SelectionHub.feedback rejects with (a 400). */
function feedbackError(error: FrontendError): ClipperError {
  return typeof error === 'string' ? new ClipperError('CLP_ERR_QUERY_PROCESSING', error) : fromWireError(error);
}

export class ThreadSelection implements FeedbackPort {
  readonly #options: ThreadSelectionOptions;
  readonly #prng: Prng;
  /** App → the descriptor of the last 'routes' message. */
  #descriptors = new Map<string, SelectionDescriptor>();
  /** App → its AppSelection (the route table holds the same objects in its routes). */
  readonly #apps = new Map<string, AppSelection>();
  readonly #waiters = new Map<number, FeedbackWaiter>();
  #nextRequestId = 1;
  #closed = false;

  constructor(options: ThreadSelectionOptions) {
    this.#options = options;
    this.#prng = new Prng(options.seed);
  }

  /** The selections of the next route rebuild (call before RouteTable.rebuild). */
  setDescriptors(descriptors: readonly SelectionDescriptor[]): void {
    this.#descriptors = new Map(descriptors.map((d) => [d.app, d]));
  }

  /** RouteSources.selection: the app's selection (null: main made none, the app serves one model). */
  route(app: AppRecord, placements: Array<Placement | null>): AppSelection | null {
    const descriptor = this.#descriptors.get(app.name);
    if (descriptor === undefined) {
      this.forget(app.name);
      return null;
    }
    let sel = this.#apps.get(app.name);
    if (sel === undefined || sel.generation !== descriptor.generation) {
      sel = this.#selectionOf(descriptor);
      this.#apps.set(app.name, sel);
    }
    sel.placements = placements;
    return sel;
  }

  /** RouteSources.selection: the app is gone or serves one model now. */
  forget(appName: string): void {
    this.#apps.delete(appName);
  }

  /** Main sent a user's probabilities (after a feedback on any thread, or on request). */
  setUser(app: string, generation: number, uid: string, probs: readonly number[]): void {
    const sel = this.#apps.get(app);
    if (sel !== undefined && sel.generation === generation) sel.setUser(uid, probs);
  }

  /** FeedbackPort: main's hub learns from the losses; resolves once it has (its 'feedback_done'). */
  feedback(sel: AppSelection, uid: string | null, losses: Float64Array, chosen: number | null): Promise<void> {
    if (this.#closed) return Promise.reject(new ClipperError('CLP_ERR_INTERNAL', 'the server is shutting down'));
    const requestId = this.#nextRequestId++;
    return new Promise<void>((resolve, reject) => {
      this.#waiters.set(requestId, { resolve, reject });
      this.#options.post(feedbackMessage(sel, requestId, uid, losses, chosen));
    });
  }

  /** Main's answer to one 'feedback'. */
  onFeedbackDone(requestId: number, error: FrontendError | null): void {
    const waiter = this.#waiters.get(requestId);
    if (waiter === undefined) return;
    this.#waiters.delete(requestId);
    if (error === null) waiter.resolve();
    else waiter.reject(feedbackError(error));
  }

  /** Feedback still waiting for main fails (the thread is closing); later feedback too. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.values()) waiter.reject(new ClipperError('CLP_ERR_INTERNAL', 'the server is shutting down'));
    this.#waiters.clear();
  }

  #selectionOf(d: SelectionDescriptor): AppSelection {
    const post = this.#options.post;
    return new AppSelection({
      ...d,
      prng: this.#prng,
      memberStats: this.#options.memberStats(),
      requestUser: (uid) => post({ kind: 'user_probs_request', app: d.app, generation: d.generation, uid }),
    });
  }
}
