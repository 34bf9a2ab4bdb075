// Fuzz properties of the management API's bodies: every POST /admin/<route>, through AdminService
// (what the admin server calls with the parsed body) over a FakeAdminContext and a memory store.
// Bodies are built from each route's schema text (fields of the declared types, then mutated), so
// most cases get past the first check and reach the route's own validation.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { kAppRoutes } from '../../src/admin/admin_apps.js';
import { kModelRoutes } from '../../src/admin/admin_models.js';
import { AdminService } from '../../src/admin/admin_service.js';
import { kUploadRoutes } from '../../src/admin/admin_uploads.js';
import { FakeAdminContext } from '../helpers/fake_admin_context.js';
import { edgeNumber, jsonValue, mutateObject, nastyString } from './arbitraries.js';
import { expectHttpReply } from './fuzz_checks.js';
import type { FuzzProperty } from './fuzz_property.js';

const kRoutes = { ...kAppRoutes, ...kModelRoutes, ...kUploadRoutes };
export const kAdminRouteNames: readonly string[] = Object.keys(kRoutes);

const plausible = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom('a', 'm', '1', 'doubles', 'strings', 'bytes', 'default', 'exp3', 'node', 'x.pkl', 'AAAA', '-1.0'),
  },
  { weight: 1, arbitrary: nastyString },
);
const entry = fc.oneof(
  fc.constantFrom('../../etc/passwd', '/etc/passwd', 'sum_model.mjs', '', '.', 'a/../../b', '\u0000'),
  fc.string({ maxLength: 12 }),
);
const container = fc.record(
  {
    manager: fc.oneof(fc.constantFrom('local', 'docker'), plausible),
    runtime: fc.oneof(fc.constantFrom('node', 'python'), plausible),
    entry,
    function: plausible,
    options: fc.oneof(fc.dictionary(plausible, fc.oneof(plausible, edgeNumber, fc.boolean(), jsonValue), { maxKeys: 3 }), jsonValue),
    cpus: edgeNumber,
    memory_mb: edgeNumber,
    pkgs_to_install: fc.array(plausible, { maxLength: 2 }),
  },
  { requiredKeys: ['runtime', 'entry'] },
);

/** A value of a schema type: string, int, bool, number, object, [string], "a" | "b", or a nested spec. */
function arbitraryOfType(type: string): fc.Arbitrary<unknown> {
  if (type === 'string') return plausible;
  if (type === 'int') return fc.oneof(fc.integer({ min: -2, max: 20 }), edgeNumber);
  if (type === 'number') return edgeNumber;
  if (type === 'bool') return fc.oneof(fc.boolean(), jsonValue);
  if (type === 'object') return fc.oneof(fc.dictionary(plausible, jsonValue, { maxKeys: 3 }), jsonValue);
  if (type === '[string]') return fc.array(plausible, { maxLength: 3 });
  if (type === '{') return container;
  const choices = [...type.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  return choices.length > 0 ? fc.oneof(fc.constantFrom(...choices), plausible) : jsonValue;
}

const kField = /"(\w+)"(\?)?\s*:=\s*(\[string\]|string|int|bool|number|object|\{|"[^"]*"(?:\s*\|\s*"[^"]*")*)/g;

/** A body with the route's fields (optional ones maybe absent), or an empty one. */
function schemaBody(schema: string): fc.Arbitrary<Record<string, unknown>> {
  // Fields inside a nested spec ({ … }) come from its own arbitrary: skip them at the top level.
  const top = schema.replace(/:= \{[^}]*\}/g, ':= {');
  const fields = [...top.matchAll(kField)].map((m) => ({ name: m[1]!, optional: m[2] === '?', type: m[3]! }));
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of fields) model[f.name] = arbitraryOfType(f.type);
  const required = fields.filter((f) => !f.optional).map((f) => f.name);
  return fc.record(model, { requiredKeys: required }) as fc.Arbitrary<Record<string, unknown>>;
}

export const adminCase: fc.Arbitrary<{ route: string; body: unknown }> = fc.constantFrom(...kAdminRouteNames).chain((route) => {
  const valid = schemaBody(kRoutes[route]!.schema);
  const body = fc.oneof(
    { weight: 4, arbitrary: valid },
    { weight: 4, arbitrary: mutateObject(valid) },
    { weight: 1, arbitrary: jsonValue },
  );
  return body.map((b) => ({ route, body: b }));
});

/** Every reply of AdminService.handle: below 500, and a 4xx carries a JSON error. */
export const kAdminProperty: FuzzProperty = {
  name: 'admin_body',
  parser: 'admin',
  weight: 3,
  async run({ seed, numRuns }) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-fuzz-admin-'));
    const ctx = await FakeAdminContext.create();
    Object.defineProperty(ctx, 'modelsDir', { value: dir });
    const service = new AdminService(ctx);
    try {
      await fc.assert(
        fc.asyncProperty(adminCase, async ({ route, body }) => {
          const reply = await service.handle(route, body);
          expectHttpReply(reply.status, reply.body, `POST /admin/${route}`);
        }),
        { seed, numRuns, includeErrorInReport: true },
      );
    } finally {
      ctx.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
