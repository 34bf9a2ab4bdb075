// Placeholder until the management API lands.
import type { AdminContext } from './admin_context.js';
export async function startAdminServer(_ctx: AdminContext, opts: { host: string; port: number; bodyBytesMax: number }): Promise<{ port: number; close(): void }> {
  return { port: opts.port, close() {} };
}
