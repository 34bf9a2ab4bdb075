// The management server over real HTTP (uWS on 127.0.0.1:0) and the TypeScript client against it.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startAdminServer, type AdminServer } from '../../src/admin/admin_server.js';
import { ClipperClientError, ClipperConnection } from '../../src/client/admin_client.js';
import { FakeAdminContext } from '../helpers/fake_admin_context.js';
import { kFixtureModels } from '../helpers/cluster.js';

const kBodyBytesMax = 4096;
let ctx: FakeAdminContext;
let server: AdminServer;
let base: string;
let client: ClipperConnection;

async function startFresh(): Promise<void> {
  server?.close();
  // A Docker cluster, as Clipper's: add_model's container_name is the image its replicas run.
  ctx = await FakeAdminContext.create(undefined, { numReplicas: 1, containers: 'docker' });
  server = await startAdminServer(ctx, { host: '127.0.0.1', port: 0, bodyBytesMax: kBodyBytesMax });
  base = `http://127.0.0.1:${server.port}`;
  client = new ClipperConnection({ adminUrl: base, timeoutMs: 10_000 });
}

after(() => server?.close());

async function post(path: string, body: string | object): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' },
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

function errorOf(text: string): { error: string; cause: string; code: string } {
  return JSON.parse(text) as { error: string; cause: string; code: string };
}

describe('admin server over HTTP', () => {
  beforeEach(startFresh);

  it("answers the worked example of spec §2 with Clipper's bodies", async () => {
    const steps: [string, object, string][] = [
      [
        '/admin/add_app',
        { name: 'hello', input_type: 'doubles', default_output: '-1.0', latency_slo_micros: 100000 },
        "Successfully added application with name 'hello'",
      ],
      [
        '/admin/add_model',
        {
          model_name: 'sum',
          model_version: '1',
          labels: [],
          input_type: 'doubles',
          container_name: 'img:1',
          model_data_path: 'DEPRECATED',
          batch_size: -1,
        },
        "Successfully added model with name 'sum' and input type 'doubles'",
      ],
      [
        '/admin/add_model_links',
        { app_name: 'hello', model_names: ['sum'] },
        "Successfully linked model with name 'sum' to application 'hello'",
      ],
    ];
    for (const [path, body, expected] of steps) {
      const reply = await post(path, body);
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.text, expected);
      assert.match(reply.type ?? '', /^text\/plain/);
    }
    const apps = await post('/admin/get_all_applications', { verbose: true });
    assert.equal(apps.type, 'application/json');
    assert.deepEqual((JSON.parse(apps.text) as { linked_models: string[] }[])[0]?.linked_models, ['sum']);
  });

  it('answers ping, healthz, trailing slashes and query strings', async () => {
    const ping = await fetch(`${base}/admin/ping`);
    assert.equal(ping.status, 200);
    assert.equal(await ping.text(), 'PONG');
    const health = await fetch(`${base}/healthz?probe=1`);
    assert.equal(health.headers.get('content-type'), 'application/json');
    assert.deepEqual(await health.json(), { status: 'ok' });
    assert.equal((await post('/admin/get_all_models/?x=1', { verbose: false })).text, '[]');
  });

  it('answers 404 for unknown routes and 405 for wrong methods', async () => {
    for (const [method, path] of [
      ['POST', '/admin/add_container'],
      ['GET', '/nope'],
      ['POST', '/hello/predict'],
      ['GET', '/'],
      ['POST', '/admin/__proto__'],
    ]) {
      const response = await fetch(`${base}${path}`, { method, body: method === 'POST' ? '{}' : undefined });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(errorOf(await response.text()).code, 'CLP_ERR_ROUTE_NOT_FOUND');
    }
    for (const [method, path, allow] of [
      ['GET', '/admin/add_app', 'POST'],
      ['PUT', '/admin/get_state', 'POST'],
      ['POST', '/admin/ping', 'GET'],
      ['DELETE', '/healthz', 'GET'],
    ]) {
      const response = await fetch(`${base}${path}`, { method, body: method === 'GET' ? undefined : '{}' });
      assert.equal(response.status, 405, `${method} ${path}`);
      assert.equal(response.headers.get('allow'), allow);
      assert.equal(errorOf(await response.text()).code, 'CLP_ERR_METHOD_NOT_ALLOWED');
    }
  });

  it('answers 400 naming the problem for malformed or empty JSON', async () => {
    const bad = await post('/admin/add_app', '{"name": "hello",');
    assert.equal(bad.status, 400);
    const err = errorOf(bad.text);
    assert.equal(err.code, 'CLP_ERR_JSON_PARSE');
    assert.equal(err.error, 'Json error');
    assert.match(err.cause, /^Error parsing JSON: .*JSON/);
    const empty = await post('/admin/get_all_models', '');
    assert.equal(empty.status, 400);
    assert.match(errorOf(empty.text).cause, /request body is empty/);
    const notObject = await post('/admin/get_all_models', '[true]');
    assert.equal(errorOf(notObject.text).code, 'CLP_ERR_JSON_SCHEMA');
  });

  it('answers 413 for a body over the limit, declared or streamed', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(kBodyBytesMax), input_type: 'doubles' });
    const declared = await post('/admin/add_app', big);
    assert.equal(declared.status, 413);
    assert.equal(errorOf(declared.text).code, 'CLP_ERR_BODY_TOO_LARGE');
    const streamed = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${base}/admin/add_app`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
        let text = '';
        res
          .setEncoding('utf8')
          .on('data', (chunk: string) => {
            text += chunk;
          })
          .on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write(big.slice(0, 3000));
      req.end(big.slice(3000));
    });
    assert.equal(streamed.status, 413);
    assert.equal(errorOf(streamed.text).code, 'CLP_ERR_BODY_TOO_LARGE');
    assert.equal((await post('/admin/get_all_models', { verbose: false })).status, 200); // still serving
  });

  it('answers an invalid input_type with 400 rather than hanging', async () => {
    const reply = await post('/admin/add_app', { name: 'hello', input_type: 'float64', default_output: '0', latency_slo_micros: 100000 });
    assert.equal(reply.status, 400);
    assert.equal(errorOf(reply.text).code, 'CLP_ERR_INVALID_ARG');
  });
});

describe('ClipperConnection', () => {
  before(startFresh);

  it('drives the whole lifecycle', async () => {
    assert.equal(await client.ping(), 'PONG');
    assert.equal(
      await client.registerApplication({ name: 'hello', inputType: 'd', defaultOutput: '-1.0', sloMicros: 100000 }),
      "Successfully added application with name 'hello'",
    );
    // A file inside a model directory (the fake context allows the fixtures): add_model checks it.
    const container = { runtime: 'node' as const, entry: path.join(kFixtureModels, 'counter_model.mjs') };
    await client.deployModel({ name: 'sum', version: 1, inputType: 'doubles', container, labels: ['a'] });
    await client.deployModel({ name: 'sum', version: 2, inputType: 'doubles', container, numReplicas: 2, batchSize: 16 });
    await client.linkModelToApp('hello', 'sum');
    assert.deepEqual(await client.getAllApps(), ['hello']);
    assert.deepEqual((await client.getAllApps(true))[0]?.linked_models, ['sum']);
    assert.equal((await client.getAppInfo('hello'))?.input_type, 'doubles');
    assert.equal(await client.getAppInfo('nope'), null);
    assert.deepEqual(await client.getLinkedModels('hello'), ['sum']);
    assert.deepEqual(await client.getAllModels(), ['sum:1', 'sum:2']);
    assert.equal(await client.getCurrentModelVersion('sum'), '2');
    assert.equal((await client.getModelInfo('sum', 2))?.batch_size, 16);
    assert.equal(await client.getModelInfo('sum', 9), null);
    assert.deepEqual(await client.getAllContainers(), ['sum:1:0', 'sum:2:0', 'sum:2:1']);
    assert.equal((await client.getContainer('sum', '2', 1))?.model_id, 'sum:2');
    assert.equal(await client.getContainer('sum', '2', 7), null);
    assert.equal(await client.getNumReplicas('sum'), 2);
    assert.equal(await client.setNumReplicas('sum', 3), "Successfully set the number of replicas of model 'sum' version '2' to 3");
    assert.equal(await client.getNumReplicas('sum', 2), 3);
    assert.equal(await client.getState('hello'), '-1.0');
    await client.setModelVersion('sum', 1, 2);
    assert.equal(await client.getCurrentModelVersion('sum'), '1');
    assert.equal(await client.getNumReplicas('sum'), 2);
    await client.deleteVersionedModel('sum', 2);
    await client.unlinkModelFromApp('hello', 'sum');
    await client.deleteApplication('hello');
    assert.deepEqual(await client.getAllApps(), []);
  });

  it('turns error replies into ClipperClientError', async () => {
    await client.registerApplication({ name: 'dup', inputType: 'strings', defaultOutput: 'x', sloMicros: 5000 });
    const err = await client.registerApplication({ name: 'dup', inputType: 'strings', defaultOutput: 'x', sloMicros: 5000 }).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ClipperClientError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'CLP_ERR_CONFLICT');
    assert.equal(err.cause, "application 'dup' already exists");
    assert.match(err.message, /^Received error status code: 400 and message: \{/);
    await assert.rejects(client.getLinkedModels('ghost'), { name: 'ClipperClientError', status: 400, code: 'CLP_ERR_NOT_FOUND' });
    await assert.rejects(client.setNumReplicas('ghost', 1), { status: 0, cause: "model 'ghost' has no current version" });
  });

  it('reports an unreachable server as status 0', async () => {
    const closed = await startAdminServer(ctx, { host: '127.0.0.1', port: 0, bodyBytesMax: 1024 });
    const port = closed.port;
    closed.close();
    const offline = new ClipperConnection({ adminUrl: `http://127.0.0.1:${port}`, timeoutMs: 5000 });
    await assert.rejects(offline.ping(), (e: unknown) => e instanceof ClipperClientError && e.status === 0 && e.code === null);
  });

  it('predicts through the query port', async () => {
    const seen: { url: string | undefined; body: unknown }[] = [];
    const query = http.createServer((req, res) => {
      let text = '';
      req
        .setEncoding('utf8')
        .on('data', (chunk: string) => {
          text += chunk;
        })
        .on('end', () => {
          seen.push({ url: req.url, body: JSON.parse(text) });
          if (req.url !== '/hello/predict') {
            res
              .writeHead(404, { 'Content-Type': 'application/json' })
              .end('{"error":"Application not found","cause":"no app","code":"CLP_ERR_APP_NOT_FOUND"}');
            return;
          }
          const body = JSON.parse(text) as { input_batch?: unknown[] };
          res
            .writeHead(200, { 'Content-Type': 'application/json' })
            .end(
              body.input_batch === undefined
                ? '{"query_id":0,"output":6.0,"default":false}'
                : JSON.stringify({ batch_predictions: body.input_batch.map((_, i) => ({ query_id: i, output: i, default: false })) }),
            );
        });
    });
    await new Promise<void>((resolve) => query.listen(0, '127.0.0.1', resolve));
    try {
      const port = (query.address() as AddressInfo).port;
      const qc = new ClipperConnection({ adminUrl: base, queryUrl: `http://127.0.0.1:${port}/`, timeoutMs: 5000 });
      assert.deepEqual(await qc.predict('hello', [1, 2, 3], { version: '1', sloMicros: 5000 }), { query_id: 0, output: 6, default: false });
      assert.equal((await qc.predictBatch('hello', [[1], [2]])).batch_predictions.length, 2);
      await assert.rejects(qc.predict('other', [1]), { status: 404, code: 'CLP_ERR_APP_NOT_FOUND', cause: 'no app' });
      assert.deepEqual(seen.slice(0, 2), [
        { url: '/hello/predict', body: { input: [1, 2, 3], version: '1', slo_micros: 5000 } },
        { url: '/hello/predict', body: { input_batch: [[1], [2]] } },
      ]);
    } finally {
      query.closeAllConnections();
      await new Promise((resolve) => query.close(resolve));
    }
  });
});
