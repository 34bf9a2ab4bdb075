// Where an HTTP query's time goes: the same wrk load against three apps of one cluster, each adding
// one stage of the path: the frontend alone (an unlinked app, answered on the main thread), plus the
// ring round trip to a batching worker (a model with no replicas, answered by the worker), plus the
// replica process over TCP (the noop model).
//
//   npm run build && node dist/bench/http_stages.js [--duration-s 4] [--connections 64]
//
// The cluster runs in a child process; wrk (Debian package `wrk`) is the load generator.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../src/paths.js';
import { appRecordOf, deployRecord, nodeModelRecord } from '../src/admin/deploy_local.js';
import { runWrk, startChild } from './wrk_runner.js';

async function serve(): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const cluster = await Cluster.start({ config: { queryPort: 0, adminPort: 0 } });
  const noop = path.join(kRepoRoot, 'containers', 'node', 'examples', 'noop_model.mjs');
  await cluster.store.putApp(appRecordOf('unlinked', 'doubles', []));
  await deployRecord(cluster, nodeModelRecord('empty', '1', 'doubles', noop, { num_replicas: 0, cache_enabled: false }));
  await cluster.store.putApp(appRecordOf('ring', 'doubles', ['empty']));
  await deployRecord(cluster, nodeModelRecord('noop', '1', 'doubles', noop, { cache_enabled: false }));
  await cluster.store.putApp(appRecordOf('noop', 'doubles', ['noop']));
  process.stdout.write(`${JSON.stringify({ port: cluster.queryPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve();
  const { values } = parseArgs({
    options: {
      'duration-s': { type: 'string', default: '4' },
      connections: { type: 'string', default: '64' },
    },
  });
  const { child, port } = await startChild([path.join(kRepoRoot, 'dist', 'bench', 'http_stages.js'), 'serve']);
  const lines = ['| path | connections | req/s | p50 µs | p99 µs |', '|---|---|---|---|---|'];
  try {
    const stages = [
      ['frontend only (unlinked app)', 'unlinked'],
      ['+ ring round trip (model without replicas)', 'ring'],
      ['+ replica process over TCP (noop model)', 'noop'],
    ] as const;
    for (const [label, app] of stages) {
      const url = `http://127.0.0.1:${port}/${app}/predict`;
      runWrk(label, url, Number(values.connections), 1, 2); // warm-up
      const r = runWrk(label, url, Number(values.connections), 1, Number(values['duration-s']));
      lines.push(`| ${label} | ${r.connections} | ${r.requestsPerS.toFixed(0)} | ${r.p50Us} | ${r.p99Us} |`);
    }
  } finally {
    child.kill('SIGTERM');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
