// The management API as pure logic over an AdminContext: a route name and a parsed JSON body in, an
// AdminReply out. It never throws: every failure becomes a coded JSON error reply. The HTTP server
// (admin_server.ts) only routes, reads bodies and parses JSON.

import { ClipperError } from '../errors.js';
import type { AdminContext } from './admin_context.js';
import { kAppRoutes } from './admin_apps.js';
import { errorReply } from '../http/reply.js';
import { AdminCore, type AdminReply, type AdminRoute } from './admin_core.js';
import { kModelRoutes } from './admin_models.js';
import { kPipelineRoutes } from './admin_pipelines.js';
import { kPipelineStatsRoutes } from './admin_pipeline_stats.js';
import { kUploadRoutes } from './admin_uploads.js';
import { BodyReader } from './admin_validate.js';

export type { AdminReply } from './admin_core.js';

const kRoutes: Readonly<Record<string, AdminRoute>> = {
  ...kAppRoutes,
  ...kModelRoutes,
  ...kUploadRoutes,
  ...kPipelineRoutes,
  ...kPipelineStatsRoutes,
};

/** Names of the POST /admin/<name> endpoints. */
export const kAdminPostRoutes: readonly string[] = Object.keys(kRoutes);

export class AdminService {
  readonly #core: AdminCore;

  constructor(ctx: AdminContext) {
    this.#core = new AdminCore(ctx);
  }

  /** True when `name` is a POST /admin/<name> endpoint. */
  hasRoute(name: string): boolean {
    return Object.hasOwn(kRoutes, name);
  }

  /** Answer POST /admin/<route> with an already-parsed JSON body. */
  async handle(route: string, body: unknown): Promise<AdminReply> {
    try {
      if (!Object.hasOwn(kRoutes, route)) {
        throw new ClipperError('CLP_ERR_ROUTE_NOT_FOUND', `No management endpoint /admin/${route}`);
      }
      const spec = kRoutes[route]!;
      const reader = new BodyReader(body, spec.schema);
      if (spec.mutates) this.#core.requireWritable();
      return await spec.run(this.#core, reader);
    } catch (err) {
      return errorReply(err);
    }
  }
}
