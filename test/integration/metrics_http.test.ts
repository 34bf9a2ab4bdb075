// GET /metrics on the query port: Clipper's JSON for Clipper's clients (no Accept, */*), Prometheus
// text for scrapers that name it; /metrics/json and /metrics/prometheus fixed.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { installExample } from '../../src/admin/example.js';
import { postJson, startTestCluster } from '../helpers/cluster.js';

/** GET with node:http, which sends no Accept header unless given one. */
function get(
  port: number,
  urlPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; vary: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), vary: String(res.headers.vary), body }),
        );
      })
      .on('error', reject);
  });
}

type Category = Array<Record<string, Record<string, string>>>;
interface ClipperMetrics {
  counters: Category;
  ratio_counters: Category;
  meters: Category;
  histograms: Category;
}

function find(category: Category, name: string): Record<string, string> {
  const entry = category.find((e) => Object.keys(e)[0] === name);
  assert.ok(entry, `${name} in ${JSON.stringify(category.map((e) => Object.keys(e)[0]))}`);
  return entry[name]!;
}

test('GET /metrics answers Clipper JSON without Accept or with */*, Prometheus text when asked', async (t) => {
  const cluster = await startTestCluster(t);
  await installExample(cluster);
  const port = cluster.queryPort;
  for (let i = 0; i < 5; i++) assert.equal((await postJson(port, '/hello-world/predict', { input: [i, 1] })).status, 200);

  const plain = await get(port, '/metrics');
  assert.equal(plain.status, 200);
  assert.match(plain.type, /^application\/json/);
  assert.equal(plain.vary, 'Accept');
  const doc = JSON.parse(plain.body) as ClipperMetrics;
  assert.deepEqual(Object.keys(doc), ['counters', 'ratio_counters', 'meters', 'histograms']);
  assert.equal(find(doc.counters, 'app:hello-world:num_predictions').count, '5');
  assert.equal(find(doc.ratio_counters, 'app:hello-world:default_prediction_ratio').ratio, '0');
  const meter = find(doc.meters, 'app:hello-world:prediction_throughput');
  assert.deepEqual(Object.keys(meter).sort(), ['rate', 'rate_15min', 'rate_1min', 'rate_5min', 'unit']);
  assert.equal(meter.unit, 'events per second');
  assert.ok(Number(meter.rate) > 0, `mean rate ${meter.rate}`);
  const latency = find(doc.histograms, 'app:hello-world:prediction_latency');
  assert.deepEqual(Object.keys(latency), ['unit', 'size', 'min', 'max', 'mean', 'std_dev', 'p50', 'p95', 'p99']);
  assert.equal(latency.size, '5');
  assert.ok(Number(latency.min) <= Number(latency.p50) && Number(latency.p50) <= Number(latency.max), JSON.stringify(latency));
  const models = doc.histograms.map((e) => Object.keys(e)[0]!).filter((n) => n.startsWith('model:'));
  assert.ok(models.some((n) => n.endsWith(':batch_size')) && models.some((n) => n.endsWith(':prediction_latency')), models.join());
  find(doc.meters, 'internal:aggregate_model_throughput');
  for (const category of Object.values(doc)) {
    for (const entry of category) for (const leaf of Object.values(Object.values(entry)[0]!)) assert.equal(typeof leaf, 'string');
  }

  const star = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { accept: '*/*' } });
  assert.match(star.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(((await star.json()) as ClipperMetrics).histograms.length > 0);

  const text = await get(port, '/metrics', { accept: 'text/plain' });
  assert.match(text.type, /^text\/plain; version=0\.0\.4/);
  assert.match(text.body, /clipper_app_queries_total\{app="hello-world"\} 5/);
  const scraper = await get(port, '/metrics', {
    accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  });
  assert.match(scraper.type, /^application\/openmetrics-text/);
  assert.match(scraper.body, /clipper_app_queries_total\{app="hello-world"\} 5/);
  assert.match(scraper.body, /# EOF\n$/);
  const textAgain = await get(port, '/metrics', { accept: 'text/plain' });
  assert.match(
    textAgain.body,
    /# TYPE clipper_queries_total counter\nclipper_queries_total 5/,
    'OpenMetrics leaves the text registry alone',
  );

  const fixedJson = await get(port, '/metrics/json', { accept: 'text/plain' });
  assert.match(fixedJson.type, /^application\/json/);
  JSON.parse(fixedJson.body);
  const fixedText = await get(port, '/metrics/prometheus');
  assert.match(fixedText.type, /^text\/plain; version=0\.0\.4/);
  assert.match(fixedText.body, /clipper_queries_total 5/);
});
