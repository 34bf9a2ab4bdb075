// containers/python/clipper_client.py against a recording stand-in for the admin and query
// frontends: the request bodies it sends, errors it raises, and that the closure and estimator it
// pickles load and predict in the Python container runner.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { kRepoRoot } from '../../src/paths.js';
import { missingPythonModules, type PythonRunner, RunnerClient, runPythonAsync, startRunner } from './python_harness.js';

const kMissing = missingPythonModules(['msgpack', 'numpy', 'sklearn', 'cloudpickle']);
const kSkip = kMissing.length > 0 ? `/usr/bin/python3 lacks ${kMissing.join(', ')} (run npm run setup)` : false;

interface Recorded {
  url: string;
  body: Record<string, unknown>;
}

const kScript = `
import json, sys
sys.path.insert(0, sys.argv[2])
import numpy as np
from sklearn.linear_model import LogisticRegression
import clipper_client as cc

conn = cc.ClipperConnection(admin_url=sys.argv[1] + '/', query_url=sys.argv[1])
out = {}
out['add_app'] = cc.register_application(conn, 'app', 'doubles', '-1.0', 20000)
scale = 3.0
out['closure'] = cc.deploy_python_closure(conn, 'scaled', '1', 'doubles', lambda xs: [float(x.sum()) * scale for x in xs])
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
y = np.array([0, 1, 1, 1] * 5)
est = LogisticRegression().fit(X, y)
out['sk'] = conn.deploy_sklearn_model('lr', '2', 'doubles', est, method='predict_proba', num_replicas=2, batch_size=8)
out['expected_proba'] = est.predict_proba(X[:4]).tolist()
out['link'] = cc.link_model_to_app(conn, 'app', 'scaled')
out['predict'] = cc.predict(conn, 'app', np.array([1.0, 2.0]))
try:
    conn.predict('missing', [1.0])
    out['error'] = None
except cc.ClipperException as err:
    out['error'] = {'status': err.status, 'body': err.body, 'message': str(err)}
print(json.dumps(out))
`;

describe('python clipper_client', { skip: kSkip }, () => {
  let dir = '';
  let server: http.Server;
  let baseUrl = '';
  const requests: Recorded[] = [];
  const runners: PythonRunner[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'clipper-pyclient-'));
    server = http.createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        text += c;
      });
      req.on('end', () => {
        const body = JSON.parse(text) as Record<string, unknown>;
        requests.push({ url: req.url ?? '', body });
        if (req.url === '/missing/predict') {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such app"}');
        } else if (req.url?.endsWith('/predict') === true) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ query_id: 0, output: 9, default: false }));
        } else {
          res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${req.url}`);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await Promise.all(runners.map((r) => r.stop()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends Clipper admin bodies plus the container spec, and the pickles it writes serve predictions', async () => {
    const modelsDir = path.join(dir, 'models');
    const run = await runPythonAsync(['-c', kScript, baseUrl, path.join(kRepoRoot, 'containers', 'python')], {
      CLIPPER_MODELS_DIR: modelsDir,
    });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(out.add_app, 'ok /admin/add_app');
    assert.deepEqual(out.predict, { query_id: 0, output: 9, default: false });
    const error = out.error as { status: number; body: string; message: string };
    assert.equal(error.status, 404);
    assert.equal(error.body, '{"error":"no such app"}');
    assert.match(error.message, /HTTP 404/);

    // Each deploy pickles into a new directory of its own: <models dir>/<name>/<version>/deploy-<id>/.
    const entryOf = (i: number): string => ((requests[i]?.body.container ?? {}) as { entry: string }).entry;
    const closureEntry = entryOf(1);
    const skEntry = entryOf(2);
    assert.equal(path.dirname(path.dirname(closureEntry)), path.join(modelsDir, 'scaled', '1'));
    assert.equal(path.dirname(path.dirname(skEntry)), path.join(modelsDir, 'lr', '2'));
    for (const entry of [closureEntry, skEntry]) assert.match(entry, /\/deploy-[0-9a-f]{16}\/func\.pkl$/);
    assert.deepEqual(
      requests.map((r) => r.url),
      ['/admin/add_app', '/admin/add_model', '/admin/add_model', '/admin/add_model_links', '/app/predict', '/missing/predict'],
    );
    assert.deepEqual(requests[0]!.body, { name: 'app', input_type: 'doubles', default_output: '-1.0', latency_slo_micros: 20000 });
    assert.deepEqual(requests[1]!.body, {
      model_name: 'scaled',
      model_version: '1',
      labels: [],
      input_type: 'doubles',
      container_name: 'clipper-ts/python',
      model_data_path: closureEntry,
      batch_size: -1,
      num_replicas: 1,
      container: { runtime: 'python', entry: closureEntry, function: 'predict' },
    });
    assert.deepEqual(requests[2]!.body, {
      model_name: 'lr',
      model_version: '2',
      labels: [],
      input_type: 'doubles',
      container_name: 'clipper-ts/python',
      model_data_path: skEntry,
      batch_size: 8,
      num_replicas: 2,
      container: { runtime: 'python', entry: skEntry, function: 'predict_proba' },
    });
    assert.deepEqual(requests[3]!.body, { app_name: 'app', model_names: ['scaled'] });
    assert.deepEqual(requests[4]!.body, { input: [1, 2] });

    const closure = await startRunner({ model: closureEntry, function: 'predict', name: 'scaled', version: '1', inputType: 'doubles' });
    runners.push(closure);
    const c1 = await RunnerClient.open(closure.port, { model: 'scaled', version: '1', input_type: 'doubles' });
    await c1.ready;
    assert.deepEqual((await c1.predict('doubles', [[1, 2], [0.5]])).outputs, [9, 1.5]);
    c1.close();

    const sk = await startRunner({ model: skEntry, function: 'predict_proba', name: 'lr', version: '2', inputType: 'doubles' });
    runners.push(sk);
    const c2 = await RunnerClient.open(sk.port, { model: 'lr', version: '2', input_type: 'doubles' });
    await c2.ready;
    const proba = (
      await c2.predict('doubles', [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
      ])
    ).outputs as number[][];
    const expected = out.expected_proba as number[][];
    proba.forEach((row, i) => {
      row.forEach((p, j) => {
        assert.ok(Math.abs(p - expected[i]![j]!) < 1e-12, `${p} vs ${expected[i]![j]}`);
      });
    });
    c2.close();
  });
});
