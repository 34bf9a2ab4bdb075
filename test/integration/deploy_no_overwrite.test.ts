// Item 5 of the reliability suite: a deploy the server refuses overwrites nothing. Both Python
// clients, against a real cluster with Python replicas: deploy f1 as m:1, try f2 as m:1 (refused),
// SIGKILL the replica and check that the restarted one still answers with f1. The notebook client
// (clipper_client.py) pickles to a local directory of its own per deploy; the clipper_ts package
// uploads through POST /admin/upload_model, each upload into a new directory, and removes an
// upload whose add_model was refused (two uploads of one version before its registration included).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import type { Cluster } from '../../src/cluster.js';
import { kRepoRoot } from '../../src/paths.js';
import { postJson, startTestCluster, waitUntil } from '../helpers/cluster.js';
import { missingPythonModules, runPythonAsync } from './python_harness.js';

const kMissing = missingPythonModules(['msgpack', 'numpy', 'cloudpickle']);
const skip = kMissing.length > 0 ? `/usr/bin/python3 lacks ${kMissing.join(', ')} (run npm run setup)` : false;
const kPythonDir = path.join(kRepoRoot, 'containers', 'python');

/** SIGKILL the replica of name:version and wait for its restarted successor to be connected. */
async function killReplica(cluster: Cluster, model: string, version: string): Promise<void> {
  const find = () => cluster.replicas().find((r) => r.model === model && r.version === version);
  await waitUntil(() => find()?.connected === true, 20_000, `${model}:${version} to be connected`);
  const before = find()!;
  assert.ok(before.pid !== null && before.pid > 0, 'a local process replica');
  process.kill(before.pid, 'SIGKILL');
  await waitUntil(
    () => {
      const now = find();
      return now !== undefined && now.pid !== before.pid && now.connected === true;
    },
    30_000,
    `a restarted ${model}:${version} replica`,
  );
  assert.ok(find()!.restartCount >= 1);
}

async function predict(cluster: Cluster, app: string): Promise<unknown> {
  const reply = await postJson(cluster.queryPort, `/${app}/predict`, { input: [1, 2] });
  assert.equal(reply.status, 200);
  assert.equal(reply.body.default, false, JSON.stringify(reply.body));
  return reply.body.output;
}

function setUp(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-no-overwrite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const kNotebookScript = `
import json, sys
sys.path.insert(0, sys.argv[3])
import clipper_client as cc
conn = cc.ClipperConnection(sys.argv[1], sys.argv[2])
conn.register_application('app', 'doubles', '-1.0', 5000000)
conn.deploy_python_closure('m', '1', 'doubles', lambda xs: ['f1' for _ in xs])
conn.link_model_to_app('app', 'm')
out = {}
try:
    conn.deploy_python_closure('m', '1', 'doubles', lambda xs: ['f2' for _ in xs])
    out['second'] = None
except cc.ClipperException as err:
    out['second'] = {'status': err.status, 'body': err.body}
print(json.dumps(out))
`;

test('notebook client: a refused redeploy of m:1 leaves f1 in place, also after a replica restart', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const dir = setUp(t);
  const models = path.join(dir, 'models');
  const cluster = await startTestCluster(t, { modelDirs: [dir] }, { startAdmin: startAdminServer });
  const admin = `http://127.0.0.1:${cluster.adminPort}`;
  const query = `http://127.0.0.1:${cluster.queryPort}`;
  const run = await runPythonAsync(['-c', kNotebookScript, admin, query, kPythonDir], { CLIPPER_MODELS_DIR: models });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { second: { status: number; body: string } | null };
  assert.ok(out.second !== null, 'the second deploy of m:1 is refused');
  assert.equal(out.second.status, 400);
  assert.match(out.second.body, /already exists|already registered|CLP_ERR_CONFLICT/);

  // Only the accepted deploy's directory is left; the refused one was removed by the client.
  const deploys = readdirSync(path.join(models, 'm', '1'));
  assert.equal(deploys.length, 1, deploys.join(', '));
  assert.match(deploys[0]!, /^deploy-[0-9a-f]{16}$/);
  assert.equal(cluster.snapshot().models.get('m:1')?.container?.entry, path.join(models, 'm', '1', deploys[0]!, 'func.pkl'));

  assert.equal(await predict(cluster, 'app'), 'f1');
  await killReplica(cluster, 'm', '1');
  assert.equal(await predict(cluster, 'app'), 'f1', 'the restarted replica loads f1');
});

const kPackageScript = `
import hashlib, json, sys
from clipper_ts import ClipperConnection, ClipperException, LocalContainerManager
from clipper_ts.deployers import python as python_deployer
from clipper_ts.deployers._deploy import pickle_function
conn = ClipperConnection(LocalContainerManager(clipper_query_port=int(sys.argv[2]), clipper_management_port=int(sys.argv[1])))
conn.connect()
conn.register_application('app', 'doubles', '-1.0', 5000000)
f1 = lambda xs: ['f1' for _ in xs]
f2 = lambda xs: ['f2' for _ in xs]
out = {}
def refused(call):
    try:
        call()
        return None
    except ClipperException as err:
        return str(err)
# Two uploads of p:1 before it is registered: neither overwrites the other.
data1 = pickle_function(f1)
a = conn.upload_model_file('p', '1', 'func.pkl', data1)
b = conn.upload_model_file('p', '1', 'func.pkl', pickle_function(f2))
out['a'], out['b'] = a, b
out['sha1'] = hashlib.sha256(data1).hexdigest()
conn.deploy_uploaded_model('p', '1', 'doubles', a)
conn.link_model_to_app('app', 'p')
out['b_refused'] = refused(lambda: conn.deploy_uploaded_model('p', '1', 'doubles', b))
out['b_discarded'] = conn.discard_uploaded_model('p', '1', b)
# The deployer: a second p:1 is refused at its upload; a p:3 add_model the server refuses removes its upload.
out['deployer_p1'] = refused(lambda: python_deployer.deploy_python_closure(conn, 'p', 1, 'doubles', f2))
out['deployer_p3'] = refused(lambda: python_deployer.deploy_python_closure(conn, 'p', 3, 'not-a-type', f2))
print(json.dumps(out))
`;

const kRedeployScript = `
import sys
from clipper_ts import ClipperConnection, LocalContainerManager
from clipper_ts.deployers import python as python_deployer
conn = ClipperConnection(LocalContainerManager(clipper_query_port=int(sys.argv[2]), clipper_management_port=int(sys.argv[1])))
conn.connect()
python_deployer.deploy_python_closure(conn, 'p', 2, 'doubles', lambda xs: ['f2' for _ in xs])
`;

test('clipper_ts package: refused uploads and deploys of p:1 leave f1 in place; p:2 touches nothing of p:1', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const dir = setUp(t);
  const models = path.join(dir, 'server-models');
  const saved = process.env.CLIPPER_MODELS_DIR;
  process.env.CLIPPER_MODELS_DIR = models; // the server's upload dir (read per request)
  t.after(() => {
    if (saved === undefined) delete process.env.CLIPPER_MODELS_DIR;
    else process.env.CLIPPER_MODELS_DIR = saved;
  });
  const cluster = await startTestCluster(t, { modelDirs: [dir] }, { startAdmin: startAdminServer });
  const ports = [String(cluster.adminPort), String(cluster.queryPort)];
  const env = { PYTHONPATH: kPythonDir, CLIPPER_MODELS_DIR: path.join(dir, 'client-models') };
  const run = await runPythonAsync(['-c', kPackageScript, ...ports], env);
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, string | boolean | null>;
  const a = out.a as string;
  const b = out.b as string;
  assert.notEqual(path.dirname(a), path.dirname(b), 'two uploads, two directories');
  assert.match(out.b_refused as string, /HTTP 400|status code: 400/);
  assert.equal(out.b_discarded, true);
  assert.ok(!existsSync(path.dirname(b)), 'the refused upload was removed');
  assert.match(out.deployer_p1 as string, /already registered/);
  assert.match(out.deployer_p3 as string, /not-a-type|input_type|input type/);
  assert.deepEqual(readdirSync(path.join(models, 'p', '1')), [path.basename(path.dirname(a))]);
  assert.deepEqual(existsSync(path.join(models, 'p', '3')) ? readdirSync(path.join(models, 'p', '3')) : [], [], 'p:3 left nothing');
  const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
  assert.equal(sha(a), out.sha1, 'p:1 still holds f1');

  assert.equal(await predict(cluster, 'app'), 'f1');
  await killReplica(cluster, 'p', '1');
  assert.equal(await predict(cluster, 'app'), 'f1', 'the restarted replica loads f1');

  // A successful redeploy under a new version writes only its own directory.
  const before = { mtimeMs: statSync(a).mtimeMs, listing: readdirSync(path.dirname(a)) };
  const redeploy = await runPythonAsync(['-c', kRedeployScript, ...ports], env);
  assert.equal(redeploy.status, 0, redeploy.stderr);
  assert.equal(await predict(cluster, 'app'), 'f2', 'p:2 is current');
  assert.equal(sha(a), out.sha1);
  assert.deepEqual({ mtimeMs: statSync(a).mtimeMs, listing: readdirSync(path.dirname(a)) }, before);
  assert.deepEqual(readdirSync(path.join(models, 'p', '1')), [path.basename(path.dirname(a))]);
  await cluster.store.setCurrentVersion('p', '1');
  await waitUntil(async () => (await predict(cluster, 'app')) === 'f1', 10_000, 'p:1 to be current again');
});
