import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEchoServer } from '../../bench/echo_server.js';
import { HttpTransport } from '../../tools/loadgen/http_client.js';
import { fixedInput, randomInputs } from '../../tools/loadgen/inputs.js';
import { main } from '../../tools/loadgen/main.js';
import { runSweep, type SweepOptions } from '../../tools/loadgen/runner.js';
import { WsTransport } from '../../tools/loadgen/ws_client.js';
import type { BenchResults } from '../../tools/loadgen/report.js';
import { installExample } from '../../src/admin/example.js';
import { kRepoRoot } from '../../src/paths.js';
import { startTestCluster } from '../helpers/cluster.js';

const base = (o: Partial<SweepOptions> & Pick<SweepOptions, 'transport' | 'mode' | 'levels'>): SweepOptions => ({
  label: 't',
  inputs: randomInputs(3, 1),
  connections: 4,
  poisson: false,
  seed: 1,
  durationS: 0.3,
  warmupS: 0.1,
  drainS: 2,
  sloMs: 1000,
  metricsUrl: null,
  ...o,
});

function checkLevel(r: Awaited<ReturnType<typeof runSweep>>[number], defaultEvery: number): void {
  assert.ok(r.responses > 0, 'got responses');
  // the echo's default outputs are the only errors
  assert.deepEqual(Object.keys(r.errors), r.errorCount === 0 ? [] : ['default output'], JSON.stringify(r.errors));
  assert.equal(r.okCount + r.errorCount, r.responses);
  assert.equal(r.responses, r.sent);
  assert.deepEqual(r.statusCounts, { 200: r.responses });
  assert.equal(r.latencyUs.count, r.responses);
  assert.ok(r.latencyUs.p50 <= r.latencyUs.p99 && r.latencyUs.p99 <= r.latencyUs.max);
  assert.ok(r.throughputRps > 0);
  // the echo answers "default":true on every n-th response server-wide; requests in flight across
  // the window edges can shift the count by at most the number of connections on each side
  const defaults = Math.round(r.defaultShare * r.responses);
  assert.ok(Math.abs(defaults - r.responses / defaultEvery) <= 2 * r.connections + 1, `defaults ${defaults} of ${r.responses}`);
  assert.ok(r.generatorCpuPct > 0);
}

test('closed and open loop over HTTP against the echo server', async () => {
  const echo = await startEchoServer(0, { defaultEvery: 4 });
  try {
    const transport = new HttpTransport({ host: '127.0.0.1', port: echo.port, path: '/app/predict', shape: 'clipper' });
    const closed = await runSweep(base({ transport, mode: 'closed', levels: [1, 8] }));
    assert.deepEqual(
      closed.map((r) => r.connections),
      [1, 8],
    );
    for (const r of closed) checkLevel(r, 4);
    assert.equal(closed[0]!.sendLagP99Us, null);
    const open = await runSweep(base({ transport, mode: 'open', levels: [400], poisson: true, inputs: fixedInput('[1,2]') }));
    checkLevel(open[0]!, 4);
    assert.equal(open[0]!.offeredRps, 400);
    assert.ok(open[0]!.sendLagP99Us !== null);
  } finally {
    echo.close();
  }
});

test('closed and open loop over WebSocket against the uWS ws echo', async () => {
  const echo = await startEchoServer(0, { defaultEvery: 5 });
  try {
    const transport = new WsTransport(`ws://127.0.0.1:${echo.port}/ws`);
    const [closed] = await runSweep(base({ transport, mode: 'closed', levels: [4] }));
    checkLevel(closed!, 5);
    const [open] = await runSweep(base({ transport, mode: 'open', levels: [300], connections: 2 }));
    checkLevel(open!, 5);
  } finally {
    echo.close();
  }
});

test('a refused connection is counted as errors, not latency', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const transport = new HttpTransport({ host: '127.0.0.1', port, path: '/a/predict', shape: 'clipper' });
  const [r] = await runSweep(base({ transport, mode: 'closed', levels: [2], warmupS: 0, durationS: 0.2 }));
  assert.equal(r!.responses, 0);
  assert.ok(r!.errorCount > 0);
  assert.equal(r!.errorShare, 1);
  assert.ok((r!.errors['ECONNREFUSED'] ?? 0) > 0, JSON.stringify(r!.errors));
});

test('main(): V2 shape, metrics scrape, and JSON/CSV/HTML files', async () => {
  const echo = await startEchoServer(0);
  let scrapes = 0;
  const metrics: Server = createServer((_req, res) => {
    scrapes++;
    const n = scrapes * 10;
    res.end(
      `# TYPE srv_batch_size histogram\nsrv_batch_size_bucket{le="2"} ${n}\nsrv_batch_size_bucket{le="+Inf"} ${n}\n` +
        `srv_batch_size_sum ${n * 2}\nsrv_batch_size_count ${n}\n`,
    );
  });
  await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
  const metricsPort = (metrics.address() as net.AddressInfo).port;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-main-'));
  try {
    const code = await main([
      '--url',
      `http://127.0.0.1:${echo.port}`,
      '--shape',
      'v2',
      '--app',
      'm',
      '--concurrency',
      '2',
      '--duration-s',
      '0.3',
      '--warmup-s',
      '0.1',
      '--slo-ms',
      '1000',
      '--input',
      'random:3',
      '--quiet',
      '--metrics-url',
      `http://127.0.0.1:${metricsPort}/metrics`,
      '--out-dir',
      dir,
    ]);
    assert.equal(code, 0);
    const results = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as BenchResults;
    const [level] = results.targets[0]!.levels;
    assert.equal(results.targets[0]!.description, `http://127.0.0.1:${echo.port}/v2/models/m/infer (v2)`);
    assert.ok(level!.responses > 0);
    assert.equal(level!.metrics!.batchSize['srv_batch_size']!.mean, 2);
    assert.equal(results.targets[0]!.recommendation!.level, 2);
    assert.equal(results.targets[0]!.recommendation!.batchSizeMean, 2);
    assert.ok(results.generatorCpuPct > 0);
    assert.equal(readFileSync(path.join(dir, 'results.csv'), 'utf8').trimEnd().split('\n').length, 2);
    assert.match(
      readFileSync(path.join(dir, 'report.html'), 'utf8'),
      /<script type="application\/json" id="figures">\[\{"title":"Latency vs throughput"/,
    );
    assert.equal(await main(['--mode', 'sideways']), 2);
  } finally {
    echo.close();
    await new Promise((r) => metrics.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('open loop does not pipeline by default: a server that closes pipelined connections loses nothing', async (t) => {
  // A uWS server answering 30 ms later: uWS closes a connection that pipelines behind it.
  const { App, us_listen_socket_close, us_socket_local_port } = await import('uWebSockets.js');
  const app = App().post('/*', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    res.onData((_chunk, last) => {
      if (!last) return;
      setTimeout(() => {
        if (!aborted) res.cork(() => res.end('{"query_id":1,"output":1,"default":false}'));
      }, 30);
    });
  });
  const port = await new Promise<number>((resolve) =>
    app.listen('127.0.0.1', 0, (token) => {
      t.after(() => us_listen_socket_close(token));
      resolve(us_socket_local_port(token));
    }),
  );
  const transport = () => new HttpTransport({ host: '127.0.0.1', port, path: '/a/predict', shape: 'clipper' });
  // 200 req/s over 2 connections, each busy 30 ms per request: most requests find both busy.
  const [held] = await runSweep(base({ transport: transport(), mode: 'open', levels: [200], connections: 2, durationS: 0.5 }));
  assert.equal(held!.errorCount, held!.errors['default output'] ?? 0, JSON.stringify(held!.errors));
  assert.ok(held!.responses > 50);
  const [piped] = await runSweep(
    base({ transport: transport(), mode: 'open', levels: [200], connections: 2, durationS: 0.5, pipelining: true }),
  );
  assert.ok(
    Object.keys(piped!.errors).some((k) => k !== 'default output'),
    'pipelining behind a pending response loses requests on such a server',
  );
});

test('clipper bench against a real cluster with a wrong app name exits non-zero naming the 404s', async (t) => {
  const cluster = await startTestCluster(t);
  await installExample(cluster);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-404-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    [
      path.join(kRepoRoot, 'bin', 'clipper.js'),
      'bench',
      '--url',
      `http://127.0.0.1:${cluster.queryPort}`,
      '--app',
      'no-such-app',
      '--concurrency',
      '2,4',
      '--duration-s',
      '0.3',
      '--warmup-s',
      '0',
      '--quiet',
      '--out-dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 1, `exit code; stderr: ${stderr}`);
  assert.match(stderr, /all \d+ answers were HTTP 404: is app 'no-such-app' registered\?/);
  assert.doesNotMatch(stdout, /recommendation:/);
  assert.match(stdout, /nothing recommended: .*errors: \d+ HTTP 404/);
  const results = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as BenchResults;
  const levels = results.targets[0]!.levels;
  assert.equal(levels.length, 1, 'the sweep stops after a level with no successful answer');
  assert.equal(levels[0]!.okCount, 0);
  assert.equal(levels[0]!.errorShare, 1);
  assert.equal(levels[0]!.errors['HTTP 404'], levels[0]!.responses);
});
