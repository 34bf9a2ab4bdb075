// End-to-end HTTP benchmark: wrk against a bare uWebSockets.js echo server (the ceiling of any HTTP
// predict path on this machine) and against a real cluster (hello-world → sum-model, and a noop
// model), in one run, so the ratio is measured under the same conditions. Every request carries a
// unique random input (bench/wrk/predict_random.lua, seeded per run), so nothing can be cached; the
// cluster's own cache-hit counter is read around every run and reported, to prove it.
//
// The echo server runs twice: with Node's default flags (the "bare uWS server" of the hot-path
// issue) and with the flags the cluster serves with (src/node_flags.ts), which make it faster too;
// the cluster's throughput is reported as a share of each.
//
//   npm run build && node dist/bench/http_e2e.js [--duration-s 10] [--connections 64] [--threads 1]
//
// Each server runs in its own process; wrk (Debian package `wrk`) is the load generator.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../src/paths.js';
import { runWrk, startChild, type WrkResult } from './wrk_runner.js';
import { appRecordOf, deployRecord, nodeModelRecord } from '../src/admin/deploy_local.js';

async function serve(): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const { installExample } = await import('../src/admin/example.js');
  const { startAdminServer } = await import('../src/admin/admin_server.js');
  const threads = Number(process.env.CLIPPER_BENCH_THREADS ?? '') || undefined;
  // CLIPPER_BENCH_CONFIG: JSON of cluster options to try, e.g. '{"ringSpinCount":1000}'.
  const extra = JSON.parse(process.env.CLIPPER_BENCH_CONFIG ?? '{}') as Record<string, unknown>;
  const cluster = await Cluster.start({
    config: { queryPort: 0, adminPort: 0, batchingThreads: threads, ...extra },
    startAdmin: startAdminServer,
  });
  await installExample(cluster);
  await deployRecord(
    cluster,
    nodeModelRecord('noop-model', '1', 'doubles', path.join(kRepoRoot, 'containers', 'node', 'examples', 'noop_model.mjs')),
  );
  await cluster.store.putApp(appRecordOf('noop', 'doubles', ['noop-model'], { latency_slo_micros: 100_000 }));
  process.stdout.write(`${JSON.stringify({ port: cluster.queryPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve();
  const { values } = parseArgs({
    options: {
      'duration-s': { type: 'string', default: '10' },
      connections: { type: 'string', default: '64' },
      threads: { type: 'string', default: '1' },
    },
  });
  const durationS = Number(values['duration-s']);
  const connections = Number(values.connections);
  const threads = Number(values.threads);
  const echoServer = path.join(kRepoRoot, 'dist', 'bench', 'echo_server.js');
  const echo = await startChild([echoServer, '0'], []);
  const echoTuned = await startChild([echoServer, '0']);
  const cluster = await startChild([path.join(kRepoRoot, 'dist', 'bench', 'http_e2e.js'), 'serve']);
  const results: WrkResult[] = [];
  try {
    const targets = [
      [kEcho, `http://127.0.0.1:${echo.port}/default/predict`],
      [kEchoTuned, `http://127.0.0.1:${echoTuned.port}/default/predict`],
      ['clipper hello-world (sum)', `http://127.0.0.1:${cluster.port}/hello-world/predict`],
      ['clipper noop', `http://127.0.0.1:${cluster.port}/noop/predict`],
    ] as const;
    const clusterMetrics = `http://127.0.0.1:${cluster.port}/metrics/prometheus`;
    for (const [label, url] of targets) {
      const isCluster = url.startsWith(`http://127.0.0.1:${cluster.port}/`);
      runWrk(label, url, connections, threads, 2); // warm-up
      for (const c of [connections, 1]) {
        const hitsBefore = isCluster ? await cacheHits(clusterMetrics) : 0;
        const r = runWrk(label, url, c, c === 1 ? 1 : threads, c === 1 ? Math.max(3, durationS / 2) : durationS);
        r.cacheHits = isCluster ? (await cacheHits(clusterMetrics)) - hitsBefore : 0;
        results.push(r);
      }
    }
  } finally {
    for (const child of [echo, echoTuned, cluster]) child.child.kill('SIGTERM');
  }
  const rpsOf = (label: string): number => results.find((r) => r.label === label && r.connections === connections)!.requestsPerS;
  const echoRps = rpsOf(kEcho);
  const echoTunedRps = rpsOf(kEchoTuned);
  const lines = [
    '| target | connections | req/s | vs echo | vs echo (serving flags) | p50 µs | p99 µs | default outputs | non-2xx | cache hits |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const pct = (a: number, b: number): string => `${((a / b) * 100).toFixed(0)}%`;
  for (const r of results) {
    const full = r.connections === connections;
    lines.push(
      `| ${r.label} | ${r.connections} | ${r.requestsPerS.toFixed(0)} | ${full ? pct(r.requestsPerS, echoRps) : ''} | ${full ? pct(r.requestsPerS, echoTunedRps) : ''} | ${r.p50Us} | ${r.p99Us} | ${r.defaults} | ${r.non2xx} | ${r.cacheHits ?? ''} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const kEcho = 'bare uWS echo (Node defaults)';
const kEchoTuned = 'bare uWS echo (serving flags)';

/** The cluster's prediction-cache hits so far (clipper_cache_lookups_total{result="hit"}). */
async function cacheHits(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl, { headers: { accept: 'text/plain' } })).text();
  const m = /^clipper_cache_lookups_total\{result="hit"\} (\d+)/m.exec(text);
  if (m === null) throw new Error(`no cache-hit counter at ${metricsUrl}`);
  return Number(m[1]);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
