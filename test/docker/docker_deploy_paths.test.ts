// The ways a model reaches Docker, end to end against a real engine: a Python closure from the
// Python client (pickled, built into an image with pkgs_to_install), an image made by `clipper
// build` and registered the Clipper way (container_name only), `clipper logs`, and a package apt
// cannot find failing the deploy with its name.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { startAdminServer } from '../../src/admin/admin_server.js';
import { ClipperConnection } from '../../src/client/admin_client.js';
import { connectDocker, dockerHostOf, kLabelCluster } from '../../src/containers/docker/engine.js';
import { kRepoRoot } from '../../src/paths.js';
import { kExampleModels, postJson, startTestCluster, testModelDirs } from '../helpers/cluster.js';
import { missingPythonModules, runPythonAsync } from '../integration/python_harness.js';
import { dockerSkipReason } from './docker_env.js';
import { runProcess, type ProcessResult } from '../helpers/run_process.js';

const skip = await dockerSkipReason();
const docker = skip === null ? await connectDocker(dockerHostOf('')) : null;
const kMissing = missingPythonModules(['cloudpickle', 'numpy']);
const pySkip = skip ?? (kMissing.length > 0 ? `/usr/bin/python3 lacks ${kMissing.join(', ')} (run npm run setup)` : null);
const clusters: string[] = [];
const images: string[] = [];

after(async () => {
  if (docker === null) return;
  for (const name of clusters) {
    const own = await docker.listContainers({ all: true, filters: { label: [`${kLabelCluster}=${name}`] } });
    for (const c of own)
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => {});
  }
  for (const image of images)
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => {});
});

async function dockerCluster(t: TestContext, what: string) {
  const name = `t-${what}-${process.pid}`;
  clusters.push(name);
  // bench/models holds the Python model a test deploys: a model directory too.
  const modelDirs = [...testModelDirs(), path.join(kRepoRoot, 'bench', 'models')];
  const cluster = await startTestCluster(t, { containers: 'docker', clusterName: name, modelDirs }, { startAdmin: startAdminServer });
  const adminUrl = `http://127.0.0.1:${cluster.adminPort}`;
  const queryUrl = `http://127.0.0.1:${cluster.queryPort}`;
  return { cluster, adminUrl, queryUrl, conn: new ClipperConnection({ adminUrl, queryUrl, timeoutMs: 600_000 }) };
}

function runClipper(args: string[]): Promise<ProcessResult> {
  return runProcess(process.execPath, [path.join(kRepoRoot, 'bin', 'clipper.js'), ...args], { timeoutMs: 600_000 });
}

test('a Python closure with pkgs_to_install, uploaded by clipper_ts and run in Docker', {
  skip: pySkip ?? false,
  timeout: 900_000,
}, async (t) => {
  const s = await dockerCluster(t, 'pyclosure');
  const clientDir = await mkdtemp(path.join(os.tmpdir(), 'clipper-docker-client-'));
  const serverDir = await mkdtemp(path.join(os.tmpdir(), 'clipper-docker-server-'));
  t.after(() => Promise.all([rm(clientDir, { recursive: true, force: true }), rm(serverDir, { recursive: true, force: true })]));
  images.push('six-sum:1');
  // A Clipper script (imports changed only): the deployer uploads the pickle through the admin API;
  // the server stores it (its own models dir) and builds it into an image with the package.
  const script = `
import json, sys, urllib.request
sys.path.insert(0, sys.argv[3])
from clipper_ts import ClipperConnection, DockerContainerManager
from clipper_ts.deployers import python as python_deployer
clipper_conn = ClipperConnection(admin_url=sys.argv[1], query_url=sys.argv[2])
clipper_conn.connect()
def six_sum(inputs):
    import six  # installed into the image by pkgs_to_install, from Debian's python3-six
    return [float(row.sum()) + (1000.0 if six.PY3 else 0.0) for row in inputs]
clipper_conn.register_application('six-app', 'doubles', '-1.0', 2000000)
python_deployer.deploy_python_closure(clipper_conn, 'six-sum', '1', 'doubles', six_sum, pkgs_to_install=['python3-six'])
clipper_conn.link_model_to_app('six-app', 'six-sum')
req = urllib.request.Request(sys.argv[2] + '/six-app/predict', data=json.dumps({'input': [1.0, 2.0]}).encode(),
                             headers={'Content-Type': 'application/json'})
print(urllib.request.urlopen(req).read().decode())
print(json.dumps(clipper_conn.status()))
`;
  process.env.CLIPPER_MODELS_DIR = serverDir; // read by the server's upload route at request time
  t.after(() => {
    delete process.env.CLIPPER_MODELS_DIR;
  });
  // The first run on a machine builds the image and apt-installs python3-six into it: minutes, not seconds.
  const run = await runPythonAsync(
    ['-c', script, s.adminUrl, s.queryUrl, path.join(kRepoRoot, 'containers', 'python')],
    { CLIPPER_MODELS_DIR: clientDir },
    600_000,
  );
  assert.equal(run.status, 0, run.stderr);
  const [answerLine, statusLine] = run.stdout.trim().split('\n').slice(-2);
  const answer = JSON.parse(answerLine!) as { output: unknown; default: boolean };
  assert.deepEqual({ output: answer.output, default: answer.default }, { output: 1003, default: false });
  const status = JSON.parse(statusLine!) as { ready: boolean; models: Array<{ replicas: Array<{ manager: string; image: string }> }> };
  assert.equal(status.ready, true);
  assert.deepEqual(
    status.models[0]!.replicas.map((r) => [r.manager, r.image]),
    [['docker', 'six-sum:1']],
  );
  const model = ((await s.conn.getAllModels(true)) as unknown as Array<{ container: { entry: string; manager: string } }>)[0]!;
  assert.ok(model.container.entry.startsWith(serverDir), `the server stored the upload: ${model.container.entry}`);
  assert.equal(model.container.manager, 'docker');
});

test('a Debian package apt cannot find fails the deploy with its name; nothing stays registered', {
  skip: skip ?? false,
  timeout: 900_000,
}, async (t) => {
  const s = await dockerCluster(t, 'badpkg');
  await assert.rejects(
    s.conn.deployModel({
      name: 'nopkg',
      version: '1',
      inputType: 'doubles',
      container: {
        runtime: 'python',
        entry: path.join(kRepoRoot, 'bench', 'models', 'py_sum.py'),
        pkgs_to_install: ['python3-no-such-package-xyz'],
      },
    }),
    (err: Error & { status?: number; cause?: unknown }) => {
      assert.equal(err.status, 400);
      assert.match(String(err.cause), /python3-no-such-package-xyz/);
      return true;
    },
  );
  assert.deepEqual(await s.conn.getAllModels(), []);
  assert.deepEqual(await s.conn.getAllContainers(), []);
});

test('an image from `clipper build`, registered by container_name alone, serves; `clipper logs` shows its output', {
  skip: skip ?? false,
  timeout: 600_000,
}, async (t) => {
  images.push('built-sum:3');
  const build = await runClipper([
    'build',
    '--name',
    'built-sum',
    '--version',
    '3',
    '--runtime',
    'node',
    '--entry',
    path.join(kExampleModels, 'sum_model.mjs'),
    '--input-type',
    'doubles',
  ]);
  assert.equal(build.status, 0, build.stderr);
  assert.equal(build.stdout.trim(), 'built-sum:3');
  const s = await dockerCluster(t, 'byname');
  await s.conn.registerApplication({ name: 'by-name', inputType: 'doubles', defaultOutput: '-1.0', sloMicros: 2_000_000 });
  // Clipper's add_model body: the image is container_name; no container spec.
  await s.conn.deployModel({ name: 'built-sum', version: '3', inputType: 'doubles', containerName: 'built-sum:3' });
  await s.conn.linkModelToApp('by-name', 'built-sum');
  const answer = await postJson(s.cluster.queryPort, '/by-name/predict', { input: [7, 8] });
  assert.deepEqual({ output: answer.body.output, default: answer.body.default }, { output: 15, default: false });
  const logs = await runClipper(['logs', 'built-sum:3', '--admin-url', s.adminUrl, '--tail', '20']);
  assert.equal(logs.status, 0, logs.stderr);
  assert.match(logs.stdout, /==> built-sum:3 replica 0 \(container [0-9a-f]{12}\) <==/);
  assert.match(logs.stdout, /clipper_ready/);
  // An image that is not on this machine and cannot be pulled: a clear 400, nothing registered.
  await assert.rejects(
    s.conn.deployModel({ name: 'ghost', version: '1', inputType: 'doubles', containerName: 'ghost-model-xyz:1' }),
    (err: Error & { cause?: unknown }) => {
      assert.match(String(err.cause), /ghost-model-xyz:1 is not on this machine/);
      return true;
    },
  );
  assert.equal((await s.conn.getAllModels()).length, 1);
});
