// What every /admin/* handler shares: the context, the route shape, a write lock and store-error
// wrapping. Replies are plain HttpReply data (http/reply.ts), whichever server sends them.

import type { AdminContext } from './admin_context.js';
import { ClipperError } from '../errors.js';
import type { HttpReply } from '../http/reply.js';
import type { AppRecord, ModelRecord } from '../state/records.js';
import type { BodyReader } from './admin_validate.js';
import { checkPipelinesAccept } from './admin_pipelines.js';
import type { InputType } from '../input_types.js';

/** One HTTP answer, independent of the server that sends it. */
export type AdminReply = HttpReply;

/** One POST /admin/<name> endpoint. */
export interface AdminRoute {
  /** Changes state: refused with 503 while the store is not writable. */
  mutates: boolean;
  /** Clipper-style schema text quoted in JSON errors. */
  schema: string;
  run(core: AdminCore, body: BodyReader): Promise<AdminReply>;
}

/**
 * The write lock's queue, one per AdminContext (not per AdminCore): the admin server's service and
 * the reactive tuner's (cluster.ts) each hold their own AdminCore over the same cluster, and their
 * check-then-write steps must still run one at a time.
 */
const kTails = new WeakMap<AdminContext, Promise<unknown>>();

export class AdminCore {
  readonly ctx: AdminContext;

  constructor(ctx: AdminContext) {
    this.ctx = ctx;
  }

  /**
   * Run a check-then-write step alone: mutations on one AdminContext are serialised (whichever
   * AdminCore runs them) so that two requests cannot both pass a check (e.g. "app does not exist")
   * before either writes. Long waits (replica starts) must happen outside, between two exclusive
   * steps. With a store whose change notifications arrive asynchronously (Redis), a step may still
   * see a snapshot that lags its predecessor's write.
   */
  exclusive<T>(step: () => Promise<T>): Promise<T> {
    const run = (kTails.get(this.ctx) ?? Promise.resolve()).then(() => step());
    kTails.set(
      this.ctx,
      run.catch(() => undefined),
    );
    return run;
  }

  requireWritable(): void {
    if (!this.ctx.store.writable) {
      throw new ClipperError(
        'CLP_ERR_STATE_UNAVAILABLE',
        `The state store is unavailable (${this.ctx.store.unavailableReason || 'not writable'}): no changes can be made right now. Try again later`,
      );
    }
  }

  /** A store write; a failure becomes Clipper's "Error <doing> ... in Redis" text, as a 503. */
  async write(doing: string, op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (err) {
      if (err instanceof ClipperError) throw err;
      throw new ClipperError(
        'CLP_ERR_STATE_UNAVAILABLE',
        `Error ${doing} in the state store: ${err instanceof Error ? err.message : String(err)}`,
        undefined,
        { cause: err },
      );
    }
  }

  app(name: string): AppRecord | undefined {
    return this.ctx.snapshot().apps.get(name);
  }

  /** Registered versions of a model, in registration order. */
  versions(modelName: string): ModelRecord[] {
    const out: ModelRecord[] = [];
    for (const model of this.ctx.snapshot().models.values()) if (model.model_name === modelName) out.push(model);
    return out;
  }

  currentVersion(modelName: string): string | undefined {
    return this.ctx.snapshot().currentVersions.get(modelName);
  }

  /** Apps that link this model. */
  linkedApps(modelName: string): AppRecord[] {
    return [...this.ctx.snapshot().apps.values()].filter((app) => app.linked_models.includes(modelName));
  }

  /**
   * Clipper's check_updated_model_consistent_with_app_links: a model version that becomes current
   * must keep the input type of every app the model is linked to.
   */
  checkConsistentWithLinks(modelName: string, inputType: InputType): void {
    for (const app of this.linkedApps(modelName)) {
      if (app.input_type !== inputType) {
        throw new ClipperError(
          'CLP_ERR_CONFLICT',
          `Model with name '${modelName}' is already linked to app '${app.name}' ` +
            `using input type '${app.input_type}'. The input type you provided for a new version of the model, ` +
            `'${inputType}', is not compatible.`,
        );
      }
    }
    checkPipelinesAccept(this.ctx.snapshot(), modelName, inputType); // and the pipelines that call it
  }
}
