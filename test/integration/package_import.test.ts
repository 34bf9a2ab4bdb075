// The package as a dependency sees it: `import 'clipper-ts'` from another directory resolves through
// package.json (exports/main/types) to the curated public API, and a Cluster starts and closes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { kRepoRoot } from '../../src/paths.js';

const run = promisify(execFile);

/** A temporary project whose node_modules/clipper-ts is a link to this repository. */
function consumerDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-ts-consumer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(kRepoRoot, path.join(dir, 'node_modules', 'clipper-ts'), 'dir');
  writeFileSync(path.join(dir, 'package.json'), '{"name":"consumer","private":true,"type":"module"}\n');
  return dir;
}

const kScript = `
const api = await import('clipper-ts');
const names = Object.keys(api).sort();
const cluster = await api.Cluster.start({ config: { queryPort: 0, adminPort: 0, batchingThreads: 1 }, startAdmin: api.startAdminServer });
const conn = new api.ClipperConnection({ adminUrl: 'http://127.0.0.1:' + cluster.adminPort, queryUrl: 'http://127.0.0.1:' + cluster.queryPort });
const apps = await conn.getAllApps();
const health = await (await fetch('http://127.0.0.1:' + cluster.queryPort + '/healthz')).json();
await cluster.close();
let deep = null;
try { await import('clipper-ts/dist/src/cluster.js'); } catch (err) { deep = err.code; }
const pkg = (await import('clipper-ts/package.json', { with: { type: 'json' } })).default;
console.log(JSON.stringify({ names, apps, health, deep, pkgName: pkg.name,
  defaultState: api.kDefaultConfig.state, resolved: api.resolveConfig({ queryPort: 9 }).queryPort,
  errorIsError: new api.ClipperError('CLP_ERR_INVALID_ARG', 'x') instanceof Error, store: typeof api.createStateStore('memory:', 'c').open }));
`;

test("import 'clipper-ts' from another project: the public API, and a Cluster that starts and closes", async (t) => {
  const dir = consumerDir(t);
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', kScript], { cwd: dir, timeout: 60_000 });
  const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  const expected = [
    'Cluster',
    'ClipperClientError',
    'ClipperConnection',
    'ClipperError',
    'MemoryStateStore',
    'RedisStateStore',
    'createStateStore',
    'kDefaultConfig',
    'kErrors',
    'kInputTypes',
    'parseInputType',
    'resolveConfig',
    'startAdminServer',
  ];
  assert.deepEqual(out.names, [...expected].sort(), 'exactly the curated runtime exports');
  assert.deepEqual(out.apps, []);
  assert.deepEqual(out.health, { status: 'ok' });
  assert.equal(out.deep, 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'internals are not importable');
  assert.equal(out.pkgName, 'clipper-ts');
  assert.equal(out.defaultState, 'memory:');
  assert.equal(out.resolved, 9);
  assert.equal(out.errorIsError, true);
  assert.equal(out.store, 'function');
});

test("TypeScript resolves 'clipper-ts' types through package.json", async (t) => {
  const dir = consumerDir(t);
  writeFileSync(
    path.join(dir, 'main.ts'),
    [
      "import { Cluster, ClipperConnection, resolveConfig, type ClipperConfig, type ClusterOptions, type StateStore, type InputType } from 'clipper-ts';",
      'const config: Partial<ClipperConfig> = { queryPort: 0 };',
      'const options: ClusterOptions = { config };',
      "const type: InputType = 'doubles';",
      'export async function f(store: StateStore): Promise<number> {',
      '  const c: Cluster = await Cluster.start({ ...options, store });',
      "  new ClipperConnection({ queryUrl: 'http://127.0.0.1:' + c.queryPort });",
      '  await c.close();',
      '  return resolveConfig(config).queryPort + type.length;',
      '}',
    ].join('\n'),
  );
  const tsc = path.join(kRepoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const typeRoots = path.join(kRepoRoot, 'node_modules', '@types');
  await run(
    process.execPath,
    [
      tsc,
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--skipLibCheck',
      '--typeRoots',
      typeRoots,
      '--types',
      'node',
      'main.ts',
    ],
    { cwd: dir, timeout: 120_000 },
  ).catch((err: { stdout?: string }) => assert.fail(`tsc: ${err.stdout ?? String(err)}`));
});
