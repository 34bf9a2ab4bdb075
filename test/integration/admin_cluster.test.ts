// The management API driving a real cluster: Clipper's admin bodies, our container spec, replica
// counts, deploy failures, and the CLI's clean shutdown.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperClientError, ClipperConnection } from '../../src/client/admin_client.js';
import { kRepoRoot } from '../../src/paths.js';
import { kExampleModels, postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';

const sumModel = path.join(kExampleModels, 'sum_model.mjs');

test("Clipper's admin bodies deploy, link and serve through a real cluster", async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const admin = `http://127.0.0.1:${cluster.adminPort}`;
  const post = (route: string, body: unknown) => postJson(cluster.adminPort, `/admin/${route}`, body);
  assert.equal(await fetch(`${admin}/admin/ping`).then((r) => r.text()), 'PONG');
  const addApp = await post('add_app', { name: 'hello', input_type: 'doubles', default_output: '-1.0', latency_slo_micros: 100000 });
  assert.equal(addApp.status, 200);
  assert.equal(addApp.body, "Successfully added application with name 'hello'");
  const addModel = await post('add_model', {
    model_name: 'sum',
    model_version: '1',
    labels: [],
    input_type: 'doubles',
    container_name: 'img:1',
    model_data_path: 'DEPRECATED',
    batch_size: -1,
    container: { runtime: 'node', entry: sumModel, options: { isolate: 'inline' } },
    num_replicas: 2,
  });
  assert.equal(addModel.status, 200, JSON.stringify(addModel.body));
  const link = await post('add_model_links', { app_name: 'hello', model_names: ['sum'] });
  assert.equal(link.status, 200);
  const predicted = await postJson(cluster.queryPort, '/hello/predict', { input: [1.0, 2.0, 3.0] });
  assert.deepEqual({ output: predicted.body.output, default: predicted.body.default }, { output: 6, default: false });
  const containers = await post('get_all_containers', { verbose: false });
  assert.deepEqual([...containers.body].sort(), ['sum:1:0', 'sum:1:1']);
  // add_model answers once one replica serves; the second connects on its own schedule.
  await waitUntil(
    async () => {
      const verbose = await post('get_all_containers', { verbose: true });
      return verbose.body.length === 2 && verbose.body.every((c: { connected: boolean }) => c.connected);
    },
    10_000,
    'both replicas to be connected',
  );

  const conn = new ClipperConnection({ adminUrl: admin, queryUrl: `http://127.0.0.1:${cluster.queryPort}` });
  await conn.setNumReplicas('sum', 1, '1');
  assert.equal(cluster.replicas().length, 1);
  assert.equal((await conn.predict('hello', [5, 5])).output, 10);

  const badType = await post('add_app', { name: 'x', input_type: 'tensors', default_output: '0', latency_slo_micros: 100000 });
  assert.equal(badType.status, 400, 'an invalid input_type gets an answer (Clipper hung)');
  const deleted = await post('delete_app', { name: 'hello' });
  assert.equal(deleted.status, 200);
  assert.equal((await postJson(cluster.queryPort, '/hello/predict', { input: [1] })).status, 404);
});

test('a deploy that cannot start fails fast with the container’s own error, and is rolled back', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clipper-bad-model-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const broken = path.join(dir, 'broken.mjs');
  await writeFile(broken, "import 'no-such-package-anywhere';\nexport function predict(x) { return x; }\n");
  const conn = new ClipperConnection({ adminUrl: `http://127.0.0.1:${cluster.adminPort}` });
  await assert.rejects(
    conn.deployModel({ name: 'broken', version: '1', inputType: 'doubles', container: { runtime: 'node', entry: broken } }),
    (err: unknown) => {
      assert.ok(err instanceof ClipperClientError);
      assert.equal(err.status, 400);
      assert.equal(err.code, 'CLP_ERR_DEPLOY_FAILED');
      assert.match(err.cause, /no-such-package-anywhere/);
      return true;
    },
  );
  assert.deepEqual(await conn.getAllModels(), [], 'the failed version is not left registered');
  assert.equal(cluster.replicas().length, 0);
});

/** Start `clipper start --example` on free ports; resolves once the example answers. */
async function startCli(t: import('node:test').TestContext): Promise<{ child: ChildProcess; queryPort: number }> {
  const child = spawn(
    process.execPath,
    [path.join(kRepoRoot, 'bin', 'clipper.js'), 'start', '--example', '--query-port', '0', '--admin-port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const lines = createInterface({ input: child.stdout! });
  let queryPort = -1;
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      const m = /query frontend on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) queryPort = Number(m[1]);
      if (line.includes('example ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`clipper exited with ${code}: ${stderr}`)));
  });
  return { child, queryPort };
}

test('clipper start --example serves the quickstart with the serving flags, and SIGINT leaves no process behind', async (t) => {
  const { child, queryPort } = await startCli(t);
  const r = await postJson(queryPort, '/hello-world/predict', { input: [1.1, 2.2, 3.3] });
  assert.equal(r.body.output, 6.6);
  const descendants = await listDescendants(child.pid!);
  const commands = await Promise.all(descendants.map(commandLine));
  assert.ok(
    commands.some((c) => c.includes('runner.js')),
    `a replica process runs: ${commands.join(' | ')}`,
  );
  assert.ok(
    commands.some((c) => c.includes('--max-semi-space-size') && c.includes('start')),
    `the serving process runs with src/node_flags.ts: ${commands.join(' | ')}`,
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  await waitUntil(() => descendants.every((pid) => !isAlive(pid)), 5000, 'the serving process and replicas to exit');
});

test('clipper start: killing its parent process (SIGKILL) still stops the cluster and its replicas', async (t) => {
  const { child } = await startCli(t);
  const descendants = await listDescendants(child.pid!);
  // Should the test fail, leave nothing running (an orphan would hold the test's pipes open).
  t.after(() => {
    for (const pid of descendants) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.ok(descendants.length >= 2, `the serving process and a replica: ${descendants.join(', ')}`);
  child.kill('SIGKILL');
  await waitUntil(() => descendants.every((pid) => !isAlive(pid)), 10_000, 'the serving process and replicas to exit');
});

test('clipper start: a parent killed while the cluster is still starting takes it down too', async (t) => {
  const child = spawn(
    process.execPath,
    [path.join(kRepoRoot, 'bin', 'clipper.js'), 'start', '--example', '--query-port', '0', '--admin-port', '0'],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  const seen = new Set<number>();
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  // Kill the parent as soon as its serving child exists: the child is still loading its modules.
  await waitUntil(async () => (await listDescendants(child.pid!)).length > 0, 10_000, 'the serving process');
  for (const pid of await listDescendants(child.pid!)) seen.add(pid);
  child.kill('SIGKILL');
  // Whatever it started meanwhile (replicas) must go as well: watch the serving process's children.
  await waitUntil(
    async () => {
      for (const pid of [...seen]) for (const d of await listDescendants(pid)) seen.add(d);
      return [...seen].every((pid) => !isAlive(pid));
    },
    15_000,
    'the serving process and anything it started to exit',
  );
});

/** Every process below `pid` (children, their children, ...). */
async function listDescendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const child of await listChildPids(pid)) out.push(child, ...(await listDescendants(child)));
  return out;
}

async function commandLine(pid: number): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return '';
  }
}

async function listChildPids(pid: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("Clipper's stop flow: deleting a linked model's current version stops it; its app answers the default", async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const conn = new ClipperConnection({
    adminUrl: `http://127.0.0.1:${cluster.adminPort}`,
    queryUrl: `http://127.0.0.1:${cluster.queryPort}`,
  });
  await conn.registerApplication({ name: 'stop-app', inputType: 'doubles', defaultOutput: '-1.0', sloMicros: 2_000_000 });
  for (const version of ['1', '2']) {
    await conn.deployModel({ name: 'stopped', version, inputType: 'doubles', container: { runtime: 'node', entry: sumModel } });
  }
  await conn.linkModelToApp('stop-app', 'stopped');
  assert.equal((await conn.predict('stop-app', [1, 2])).output, 3);
  // clipper_admin's stop_all_model_containers: delete every version, the current one included.
  for (const version of ['2', '1']) await conn.deleteVersionedModel('stopped', version);
  assert.deepEqual(await conn.getAllModels(), []);
  assert.equal(cluster.replicas().length, 0, 'the replicas are stopped');
  const answer = await conn.predict('stop-app', [1, 2]);
  assert.equal(answer.default, true);
  assert.match(String((answer as { default_explanation?: string }).default_explanation), /No connected models/);
});
