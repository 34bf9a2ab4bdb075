// Docker replicas against local-process replicas, in one run on one machine:
// - deploy time (image build from local files + container start + first ready connection) of a Node
//   and a Python model, with the model image removed first (the base images are built once per
//   machine and reused, as in real use), next to the same model as a local process;
// - throughput and latency of one Docker replica vs one local-process replica of the same Node sum
//   model, wrk with a unique random input per request (cache off), interleaved rounds.
//
//   npm run build && node dist/bench/docker_replica.js [--duration-s 10] [--connections 64] [--rounds 3]
//
// Needs a Docker engine and wrk (apt-get install wrk).

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../src/paths.js';
import type { ModelRecord } from '../src/state/records.js';
import { servingNodeFlags } from '../src/cli/node_flags.js';
import { runWrk, type WrkResult } from './wrk_runner.js';

const kSumNode = path.join(kRepoRoot, 'containers', 'node', 'examples', 'sum_model.mjs');
const kSumPython = path.join(kRepoRoot, 'bench', 'models', 'py_sum.py');

async function serve(): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const { startAdminServer } = await import('../src/admin/admin_server.js');
  const { appRecordOf, deployRecord, nodeModelRecord } = await import('../src/admin/deploy_local.js');
  const { connectDocker, dockerHostOf } = await import('../src/containers/docker/engine.js');
  const docker = await connectDocker(dockerHostOf(''));
  const cluster = await Cluster.start({
    config: { queryPort: 0, adminPort: 0, cacheBytesMax: 0, clusterName: `bench-${process.pid}` },
    startAdmin: startAdminServer,
  });
  const timed = async (record: ModelRecord): Promise<number> => {
    const started = performance.now();
    await deployRecord(cluster, record);
    return Math.round(performance.now() - started);
  };
  const deployMs: Record<string, number> = {};
  for (const [runtime, entry] of [
    ['node', kSumNode],
    ['python', kSumPython],
  ] as const) {
    const options: Record<string, string> = runtime === 'node' ? { isolate: 'inline' } : {};
    const node = nodeModelRecord(`${runtime}-local`, '1', 'doubles', entry, {}, options);
    const local = { ...node, container: { ...node.container!, runtime } };
    deployMs[`${runtime}, local process`] = await timed(local);
    const name = `${runtime}-docker`;
    await docker
      .getImage(`${name}:1`)
      .remove({ force: true })
      .catch(() => {}); // a cold model image build
    deployMs[`${runtime}, Docker (cold model image)`] = await timed({
      ...local,
      model_name: name,
      container: { ...local.container, manager: 'docker' },
    });
  }
  // The throughput pair: the same Node sum model, one replica each.
  await deployRecord(cluster, nodeModelRecord('sum-local', '1', 'doubles', kSumNode));
  const sumDocker = nodeModelRecord('sum-docker', '1', 'doubles', kSumNode);
  await deployRecord(cluster, { ...sumDocker, container: { ...sumDocker.container!, manager: 'docker' } });
  await cluster.store.putApp(appRecordOf('local', 'doubles', ['sum-local'], { latency_slo_micros: 100_000 }));
  await cluster.store.putApp(appRecordOf('docker', 'doubles', ['sum-docker'], { latency_slo_micros: 100_000 }));
  process.stdout.write(`${JSON.stringify({ deployMs })}\n${JSON.stringify({ port: cluster.queryPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

function startServer(): Promise<{ child: ChildProcess; port: number; deployMs: Record<string, number> }> {
  const child = spawn(process.execPath, [...servingNodeFlags(), path.join(kRepoRoot, 'dist', 'bench', 'docker_replica.js'), 'serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let deployMs: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { deployMs?: Record<string, number>; port?: number };
      if (msg.deployMs !== undefined) deployMs = msg.deployMs;
      if (msg.port !== undefined) resolve({ child, port: msg.port, deployMs });
    });
    child.once('exit', (code) => reject(new Error(`the benchmark server exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve();
  const { values } = parseArgs({
    options: {
      'duration-s': { type: 'string', default: '10' },
      connections: { type: 'string', default: '64' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const durationS = Number(values['duration-s']);
  const connections = Number(values.connections);
  const server = await startServer();
  const results: WrkResult[] = [];
  try {
    const targets = [
      ['local process', 'local'],
      ['docker', 'docker'],
    ] as const;
    for (const [label, app] of targets) runWrk(label, `http://127.0.0.1:${server.port}/${app}/predict`, connections, 1, 2); // warm-up
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const c of [connections, 1]) {
        for (const [label, app] of targets) {
          results.push(
            runWrk(label, `http://127.0.0.1:${server.port}/${app}/predict`, c, 1, c === 1 ? Math.max(3, durationS / 2) : durationS),
          );
        }
      }
    }
  } finally {
    server.child.kill('SIGTERM');
  }
  const lines = ['| model | deploy (build + first ready), ms |', '|---|---|'];
  for (const [name, ms] of Object.entries(server.deployMs)) lines.push(`| ${name} | ${ms} |`);
  lines.push(
    '',
    '| round | replica | connections | req/s | docker / local | p50 µs | p99 µs | default outputs | non-2xx |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (let i = 0; i < results.length; i += 2) {
    const [local, docker] = [results[i]!, results[i + 1]!];
    const round = Math.floor(i / 4) + 1;
    for (const r of [local, docker]) {
      const ratio = r === docker ? `${((docker.requestsPerS / local.requestsPerS) * 100).toFixed(0)}%` : '';
      lines.push(
        `| ${round} | ${r.label} | ${r.connections} | ${r.requestsPerS.toFixed(0)} | ${ratio} | ${r.p50Us} | ${r.p99Us} | ${r.defaults} | ${r.non2xx} |`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
