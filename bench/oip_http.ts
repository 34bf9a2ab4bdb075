// The Open Inference Protocol's infer against Clipper's /predict, on the same cluster, model and wrk
// setup: one 100-element FP64 query per request, every input unique (the prediction cache is on and
// answers nothing; its hit counter is read around every run to show it), in three encodings:
//   clipper      POST /noop/predict {"input":[100 doubles]}        (the app linked to noop-model)
//   oip json     POST /v2/models/noop-model/infer, FP64 [1,100] as JSON data
//   oip binary   the same with the binary tensor extension in and out (800 bytes of doubles)
// Rounds alternate the three (clipper, json, binary, clipper, ...) so drift on a shared machine hits
// them alike; each round reports its ratios to Clipper's JSON path, and the summary the medians.
//
//   npm run build && node dist/bench/oip_http.js [--duration-s 5] [--rounds 3] [--connections 64]
//
// The cluster runs in its own process; wrk (Debian package `wrk`) drives bench/wrk/oip_infer.lua.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../src/paths.js';
import { runWrk, startChild, type WrkResult } from './wrk_runner.js';

const kModel = 'noop-model';
const kApp = 'noop';
const kLua = path.join(kRepoRoot, 'bench', 'wrk', 'oip_infer.lua');

async function serve(): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const { appRecordOf, deployRecord, nodeModelRecord } = await import('../src/admin/deploy_local.js');
  const cluster = await Cluster.start({ config: { queryPort: 0, adminPort: 0 } });
  const noop = path.join(kRepoRoot, 'containers', 'node', 'examples', 'noop_model.mjs');
  await deployRecord(cluster, nodeModelRecord(kModel, '1', 'doubles', noop));
  await cluster.store.putApp(appRecordOf(kApp, 'doubles', [kModel], { latency_slo_micros: 100_000 }));
  process.stdout.write(`${JSON.stringify({ port: cluster.queryPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

interface Target {
  label: string;
  mode: 'clipper' | 'json' | 'binary';
  path: string;
}

const kTargets: readonly Target[] = [
  { label: 'clipper /predict JSON', mode: 'clipper', path: `/${kApp}/predict` },
  { label: 'OIP infer FP64 JSON', mode: 'json', path: `/v2/models/${kModel}/infer` },
  { label: 'OIP infer FP64 binary', mode: 'binary', path: `/v2/models/${kModel}/infer` },
];

/** One request of each kind, checked, so the benchmark never measures error answers. */
async function checkTargets(base: string): Promise<void> {
  const values = Array.from({ length: 100 }, (_, i) => i / 7);
  const clipper = await fetch(`${base}/${kApp}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: values }),
  });
  const clipperBody = (await clipper.json()) as { output?: unknown; default?: boolean };
  if (clipper.status !== 200 || clipperBody.default !== false)
    throw new Error(`clipper check: ${clipper.status} ${JSON.stringify(clipperBody)}`);
  const tensor = { name: 'input0', shape: [1, 100], datatype: 'FP64' };
  const json = await fetch(`${base}/v2/models/${kModel}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ ...tensor, data: values }] }),
  });
  if (json.status !== 200) throw new Error(`OIP JSON check: ${json.status} ${await json.text()}`);
  await json.arrayBuffer();
  const header = Buffer.from(
    JSON.stringify({ inputs: [{ ...tensor, parameters: { binary_data_size: 800 } }], parameters: { binary_data_output: true } }),
  );
  const data = Buffer.alloc(800);
  values.forEach((v, i) => {
    data.writeDoubleLE(v, i * 8);
  });
  const binary = await fetch(`${base}/v2/models/${kModel}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    body: Buffer.concat([header, data]),
  });
  const answer = Buffer.from(await binary.arrayBuffer());
  const headerLength = Number(binary.headers.get('inference-header-content-length'));
  if (binary.status !== 200 || !(headerLength > 0) || answer.length !== headerLength + 8) {
    throw new Error(`OIP binary check: ${binary.status} ${answer.toString('utf8', 0, Math.min(answer.length, 300))}`);
  }
}

/** The cluster's prediction-cache hits so far (clipper_cache_lookups_total{result="hit"}). */
async function cacheHits(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl, { headers: { accept: 'text/plain' } })).text();
  const m = /^clipper_cache_lookups_total\{result="hit"\} (\d+)/m.exec(text);
  if (m === null) throw new Error(`no cache-hit counter at ${metricsUrl}`);
  return Number(m[1]);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function report(rounds: readonly WrkResult[][]): string {
  const lines = [
    '| round | target | req/s | vs clipper | p50 µs | p99 µs | non-2xx | defaults | cache hits |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  rounds.forEach((round, i) => {
    const base = round[0]!.requestsPerS;
    for (const r of round) {
      lines.push(
        `| ${i + 1} | ${r.label} | ${r.requestsPerS.toFixed(0)} | ${(r.requestsPerS / base).toFixed(2)} | ${r.p50Us} | ${r.p99Us} | ${r.non2xx} | ${r.defaults} | ${r.cacheHits ?? ''} |`,
      );
    }
  });
  lines.push(
    '',
    '| target (median of rounds) | req/s | vs clipper (median of per-round ratios) | p50 µs | p99 µs |',
    '|---|---|---|---|---|',
  );
  kTargets.forEach((t, k) => {
    const runs = rounds.map((round) => round[k]!);
    const ratios = rounds.map((round) => round[k]!.requestsPerS / round[0]!.requestsPerS);
    lines.push(
      `| ${t.label} | ${median(runs.map((r) => r.requestsPerS)).toFixed(0)} | ${median(ratios).toFixed(2)} | ${median(runs.map((r) => r.p50Us))} | ${median(runs.map((r) => r.p99Us))} |`,
    );
  });
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve();
  const { values } = parseArgs({
    options: {
      'duration-s': { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '64' },
    },
  });
  const durationS = Number(values['duration-s']);
  const roundCount = Number(values.rounds);
  const connections = Number(values.connections);
  const server = await startChild([path.join(kRepoRoot, 'dist', 'bench', 'oip_http.js'), 'serve']);
  const base = `http://127.0.0.1:${server.port}`;
  const rounds: WrkResult[][] = [];
  try {
    await checkTargets(base);
    for (const t of kTargets) runWrk(t.label, `${base}${t.path}`, connections, 1, 2, kLua, [t.mode]); // warm-up
    for (let i = 0; i < roundCount; i++) {
      const round: WrkResult[] = [];
      for (const t of kTargets) {
        const before = await cacheHits(`${base}/metrics/prometheus`);
        const r = runWrk(t.label, `${base}${t.path}`, connections, 1, durationS, kLua, [t.mode]);
        r.cacheHits = (await cacheHits(`${base}/metrics/prometheus`)) - before;
        round.push(r);
      }
      rounds.push(round);
    }
  } finally {
    server.child.kill('SIGTERM');
  }
  process.stdout.write(`${report(rounds)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
