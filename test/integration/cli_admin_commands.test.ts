// The everyday `clipper` management commands against a real cluster, through bin/clipper.js:
// list, status, set-version, scale, unlink, delete-model, delete-app (and logs). Each prints the
// server's answer; a refused request exits 1 with the server's cause on stderr.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperConnection } from '../../src/client/admin_client.js';
import { kRepoRoot } from '../../src/paths.js';
import { kExampleModels, startTestCluster, waitUntil } from '../helpers/cluster.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';

const kSumModel = path.join(kExampleModels, 'sum_model.mjs');

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runNode(args: string[]): Promise<ProcessResult> {
  return runProcess(process.execPath, args);
}

test('list, status, set-version, scale, unlink, delete-model and delete-app drive a running cluster', async (t) => {
  const cluster = await startTestCluster(t, {}, { startAdmin: startAdminServer });
  const urls = ['--admin-url', `http://127.0.0.1:${cluster.adminPort}`, '--query-url', `http://127.0.0.1:${cluster.queryPort}`];
  const cli = (...args: string[]): Promise<CliResult> => runNode([path.join(kRepoRoot, 'bin', 'clipper.js'), ...args, ...urls]);
  const ok = async (...args: string[]): Promise<string> => {
    const r = await cli(...args);
    assert.equal(r.status, 0, `clipper ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const refused = async (cause: RegExp, ...args: string[]): Promise<void> => {
    const r = await cli(...args);
    assert.equal(r.status, 1, `clipper ${args.join(' ')} should fail: ${r.stdout}`);
    assert.match(r.stderr, cause);
  };
  const conn = new ClipperConnection({ adminUrl: urls[1], queryUrl: urls[3] });

  await ok('register-app', '--name', 'hello', '--input-type', 'doubles', '--slo-micros', '2000000');
  for (const version of ['1', '2']) {
    await ok(
      'deploy',
      '--name',
      'sum',
      '--version',
      version,
      '--input-type',
      'doubles',
      '--runtime',
      'node',
      '--entry',
      kSumModel,
      '--replicas',
      '1',
      ...(version === '1' ? ['--app', 'hello'] : []),
    );
  }
  await waitUntil(async () => (await conn.getAllContainers(true)).every((c) => c.connected === true), 20_000, 'both replicas to connect');

  // list: tables, and the server's JSON with --json.
  const apps = await ok('list', 'apps');
  assert.match(apps, /^NAME\s+INPUT_TYPE\s+SLO_MICROS\s+POLICY\s+LINKED_MODELS/);
  assert.match(apps, /\nhello\s+doubles\s+2000000\s+default\s+sum\s/);
  assert.deepEqual(
    (JSON.parse(await ok('list', 'apps', '--json')) as Array<{ name: string }>).map((a) => a.name),
    ['hello'],
  );
  const models = await ok('list', 'models');
  assert.match(models, /\nsum\s+1\s+no\s+doubles\s+1\s/);
  assert.match(models, /\nsum\s+2\s+yes\s+doubles\s+1\s/);
  const replicas = await ok('list', 'replicas');
  assert.match(replicas, /^MODEL\s+VERSION\s+REPLICA\s+MANAGER\s+STATE\s+HEALTH\s+RESTARTS\s+CONNECTED/);
  assert.match(replicas, /\nsum\s+1\s+0\s+local\s+\S+\s+\S+\s+0\s+yes\s+pid \d+/);
  assert.equal((JSON.parse(await ok('list', 'replicas', '--json')) as unknown[]).length, 2);
  await refused(/usage: clipper list apps\|models\|replicas/, 'list', 'things');

  // status: apps → linked models → current versions; versions → replicas; exit 0 when all connected.
  const status = await ok('status');
  assert.match(status, /hello \(doubles\) -> sum:2/);
  assert.match(status, /sum:2 \(current\): 1\/1 replica\(s\) connected/);
  assert.match(status, /replica 0: local \S+, health \S+, restarts 0, connected yes, pid \d+/);
  assert.match(status, /ok: every wanted replica is connected/);
  assert.equal((JSON.parse(await ok('status', '--json')) as { ok: boolean }).ok, true);

  // set-version: roll back to 1.
  assert.match(await ok('set-version', '--model', 'sum', '--version', '1'), /Successfully set model with name 'sum' to version '1'/);
  assert.equal(await conn.getCurrentModelVersion('sum'), '1');
  await refused(/HTTP 400, CLP_ERR_NOT_FOUND\).*nonexistent model 'nope'/, 'set-version', '--model', 'nope', '--version', '1');
  await refused(/non-existent version '9'/, 'set-version', '--model', 'sum', '--version', '9');

  // scale: the current version by default, or the one named.
  assert.match(
    await ok('scale', '--model', 'sum', '--replicas', '2'),
    /Successfully set the number of replicas of model 'sum' version '1' to 2/,
  );
  assert.equal((await conn.getModelInfo('sum', '1'))?.num_replicas, 2);
  await waitUntil(() => cluster.replicas().filter((r) => r.version === '1').length === 2, 10_000, 'a second replica of version 1');
  assert.match(await ok('scale', '--model', 'sum', '--version', '2', '--replicas', '0'), /version '2' to 0/);
  assert.equal((await conn.getModelInfo('sum', '2'))?.num_replicas, 0);
  assert.equal(cluster.replicas().filter((r) => r.version === '2').length, 0, 'scaling to 0 stops the replicas');
  await refused(/No model with name 'nope' exists/, 'scale', '--model', 'nope', '--replicas', '1');
  await refused(/model with name 'sum' and version '9' does not exist/, 'scale', '--model', 'sum', '--version', '9', '--replicas', '1');
  await refused(/--replicas must be an integer/, 'scale', '--model', 'sum', '--replicas', 'many');

  // logs still works beside them.
  assert.match(await ok('logs', 'sum:1', '--tail', '5'), /==> sum:1 replica 0/);

  // unlink, delete-model, delete-app, each refused the second time with the server's cause.
  assert.match(await ok('unlink', '--app', 'hello', '--model', 'sum'), /.+/);
  assert.deepEqual(await conn.getLinkedModels('hello'), []);
  await refused(/Cannot remove nonexistent link between app hello and model sum/, 'unlink', '--app', 'hello', '--model', 'sum');
  await refused(/No app with name 'nope' exists|nope/, 'unlink', '--app', 'nope', '--model', 'sum');
  assert.match(await ok('delete-model', '--name', 'sum', '--version', '2'), /Successfully deleted model with name 'sum' and version '2'/);
  assert.deepEqual(await conn.getAllModels(), ['sum:1']);
  await refused(/model with name 'sum' and version '2' does not exist/, 'delete-model', '--name', 'sum', '--version', '2');
  assert.match(await ok('delete-app', '--name', 'hello'), /.+/);
  assert.equal(await conn.getAppInfo('hello'), null);
  await refused(/Application 'hello' does not exist/, 'delete-app', '--name', 'hello');
  await refused(/--name is required/, 'delete-app');
  assert.match(await ok('list', 'apps'), /^no applications$/m);
  assert.match(await ok('status'), /applications: none/);
});

test('the management commands report an unreachable server and exit 1', async () => {
  const r = await runNode([path.join(kRepoRoot, 'bin', 'clipper.js'), 'status', '--admin-url', 'http://127.0.0.1:1']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /clipper status: failed: .*127\.0\.0\.1:1/);
});
