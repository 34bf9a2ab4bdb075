// ResNet-18 on a GPU through the system vs called directly (issue #17). The model (random weights,
// bench/gpu_resnet/resnet18_net.py: torchvision's resnet18(weights=None), or the same network built
// from torch.nn when torchvision is missing) runs in a Python replica (bench/gpu_resnet/resnet_model.py,
// fp16 on CUDA when available, else fp32 on the CPU) behind an app of `floats` (3×64×64 = 12,288 per
// image), batches of at most --batch; wrk sends binary bodies (application/octet-stream, 48 KB of
// little-endian floats, each input unique; bench/wrk/predict_body.lua) at --concurrency connections.
// Then, with the server stopped, bench/gpu_resnet/direct.py runs the same model on batches of --batch
// in a loop (host → device, forward, class indices back). Reports served req/s, p50/p99, default
// outputs, non-2xx, the model's mean batch size (clipper_model_batch_size over the window), the direct
// images/s, and served / direct.
//
//   npm run build && node dist/bench/gpu_resnet.js [--concurrency 128] [--batch 128] [--duration-s 10]
//       [--warmup-s 5] [--slo-ms 100] [--replicas 1] [--wrk-threads 2] [--direct-s 10] [--device auto]
//       [--config '{"batchingThreads":1}']
//
// bench/gpu_resnet/run_on_gpu.sh is the prepared run for a machine with a GPU. A CPU smoke test:
//   node dist/bench/gpu_resnet.js --concurrency 4 --batch 8 --duration-s 1 --warmup-s 1 --slo-ms 5000 --direct-s 1

import path from 'node:path';
import { parseArgs } from 'node:util';
import { kPythonInterpreter, kRepoRoot } from '../src/paths.js';
import { metricsDelta, primaryMean, scrapeMetrics } from '../tools/loadgen/metrics_scrape.js';
import { benchHeader, shellWord, wrkCommandLine } from './bench_command.js';
import { runChild } from './bench_child.js';
import { cpuPct, sampleCpu } from './proc_cpu.js';
import { stopChild } from './stop_child.js';
import { runWrk, startChild } from './wrk_runner.js';

const kDir = path.join(kRepoRoot, 'bench', 'gpu_resnet');
const kScript = path.join(kRepoRoot, 'bench', 'wrk', 'predict_body.lua');
const kElements = 3 * 64 * 64;
const kApp = 'resnet';

interface Settings {
  concurrency: number;
  batch: number;
  durationS: number;
  warmupS: number;
  sloMs: number;
  replicas: number;
  wrkThreads: number;
  directS: number;
  device: 'auto' | 'cpu' | 'cuda';
  config: Record<string, unknown>;
}

/** What bench/gpu_resnet/direct.py prints (one JSON line). */
interface DirectResult {
  device: string;
  gpu: string | null;
  dtype: string;
  model: string;
  batch: number;
  images_per_second: number;
  batch_latency_ms: { p50: number; p99: number };
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`${flag}: a positive integer, got "${text}"`);
  return n;
}

function settings(): Settings {
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string', default: '128' },
      batch: { type: 'string', default: '128' },
      'duration-s': { type: 'string', default: '10' },
      'warmup-s': { type: 'string', default: '5' },
      'slo-ms': { type: 'string', default: '100' },
      replicas: { type: 'string', default: '1' },
      'wrk-threads': { type: 'string', default: '2' },
      'direct-s': { type: 'string', default: '10' },
      device: { type: 'string', default: 'auto' },
      config: { type: 'string', default: '{}' },
    },
  });
  const device = values.device;
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') throw new Error(`--device: auto, cpu or cuda, got "${device}"`);
  return {
    concurrency: positiveInt(values.concurrency, '--concurrency'),
    batch: positiveInt(values.batch, '--batch'),
    durationS: positiveInt(values['duration-s'], '--duration-s'),
    warmupS: positiveInt(values['warmup-s'], '--warmup-s'),
    sloMs: positiveInt(values['slo-ms'], '--slo-ms'),
    replicas: positiveInt(values.replicas, '--replicas'),
    wrkThreads: positiveInt(values['wrk-threads'], '--wrk-threads'),
    directS: positiveInt(values['direct-s'], '--direct-s'),
    device,
    config: JSON.parse(values.config) as Record<string, unknown>,
  };
}

/** The cluster child: `gpu_resnet.js serve '<settings JSON>'`; deploys the model (waits for its replicas), prints {"port":P}. */
async function serve(): Promise<void> {
  const { Cluster } = await import('../src/cluster.js');
  const { appRecordOf, deployRecord } = await import('../src/admin/deploy_local.js');
  const s = JSON.parse(process.argv[3] ?? '{}') as Settings;
  process.env.RESNET_DEVICE = s.device; // read by the replica (resnet_model.py)
  const cluster = await Cluster.start({ config: { queryPort: 0, adminPort: 0, modelDirs: [kDir], ...s.config } });
  await deployRecord(cluster, {
    model_name: 'resnet18',
    model_version: '1',
    input_type: 'floats',
    labels: [],
    container_name: 'python-runner',
    model_data_path: 'DEPRECATED',
    batch_size: s.batch,
    container: { runtime: 'python', framework: 'python', entry: path.join(kDir, 'resnet_model.py'), function: 'predict' },
    num_replicas: s.replicas,
    cache_enabled: false,
  });
  await cluster.store.putApp(appRecordOf(kApp, 'floats', ['resnet18'], { latency_slo_micros: s.sloMs * 1000 }));
  process.stdout.write(`${JSON.stringify({ port: cluster.queryPort })}\n`);
  process.on('SIGTERM', () => {
    void cluster.close().then(() => process.exit(0));
  });
}

async function served(s: Settings): Promise<Record<string, unknown>> {
  const server = await startChild([path.join(kRepoRoot, 'dist', 'bench', 'gpu_resnet.js'), 'serve', JSON.stringify(s)]);
  try {
    const url = `http://127.0.0.1:${server.port}/${kApp}/predict`;
    const args = ['binary', String(kElements), 'floats'];
    const threads = Math.min(s.concurrency, s.wrkThreads);
    runWrk('warm-up', url, s.concurrency, threads, s.warmupS, kScript, args);
    process.stdout.write(`# served: ${wrkCommandLine(url, s.concurrency, threads, s.durationS, kScript, args)}\n`);
    const metricsUrl = `http://127.0.0.1:${server.port}/metrics`;
    const before = await scrapeMetrics(metricsUrl);
    const cpuBefore = sampleCpu(server.child.pid!);
    const r = runWrk('served', url, s.concurrency, threads, s.durationS, kScript, args);
    const cpu = cpuPct(cpuBefore, sampleCpu(server.child.pid!));
    const batchMean = primaryMean(metricsDelta(before, await scrapeMetrics(metricsUrl))?.batchSize);
    return {
      requestsPerS: Math.round(r.requestsPerS),
      p50Us: r.p50Us,
      p99Us: r.p99Us,
      defaults: r.defaults,
      non2xx: r.non2xx,
      batchSizeMean: batchMean === null ? null : Math.round(batchMean * 10) / 10,
      serverCpuPct: Math.round(cpu.selfPct),
      replicaCpuPct: Math.round(cpu.childrenPct),
    };
  } finally {
    await stopChild(server.child);
  }
}

async function direct(s: Settings): Promise<DirectResult> {
  const args = [path.join(kDir, 'direct.py'), '--batch', String(s.batch), '--seconds', String(s.directS), '--device', s.device];
  process.stdout.write(
    `# direct: ${[kPythonInterpreter, ...args].map((a) => shellWord(path.isAbsolute(a) && a.startsWith(kRepoRoot) ? path.relative(kRepoRoot, a) : a)).join(' ')}\n`,
  );
  const out = await runChild(kPythonInterpreter, args);
  const line = out.trim().split('\n').at(-1) ?? '';
  const parsed = JSON.parse(line) as DirectResult;
  if (typeof parsed.images_per_second !== 'number') throw new Error(`direct.py printed ${line}`);
  return parsed;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve();
  const s = settings();
  process.stdout.write(benchHeader());
  const servedRow = await served(s);
  const d = await direct(s);
  const row = {
    bench: 'gpu_resnet',
    device: d.device,
    gpu: d.gpu,
    dtype: d.dtype,
    model: d.model,
    concurrency: s.concurrency,
    batchMax: s.batch,
    sloMs: s.sloMs,
    served: servedRow,
    direct: { imagesPerS: Math.round(d.images_per_second), batchP50Ms: d.batch_latency_ms.p50, batchP99Ms: d.batch_latency_ms.p99 },
    servedOverDirect: Math.round(((servedRow.requestsPerS as number) / d.images_per_second) * 100) / 100,
  };
  process.stdout.write(`${JSON.stringify(row)}\n\n`);
  process.stdout.write(
    '| device | model | concurrency | served req/s | p50 / p99 ms | mean batch | default outputs | non-2xx | direct images/s (batch) | served / direct |\n' +
      '|---|---|---|---|---|---|---|---|---|---|\n' +
      `| ${d.gpu ?? d.device} ${d.dtype} | ${d.model} | ${s.concurrency} | ${servedRow.requestsPerS} | ` +
      `${((servedRow.p50Us as number) / 1000).toFixed(2)} / ${((servedRow.p99Us as number) / 1000).toFixed(2)} | ${servedRow.batchSizeMean ?? '?'} | ` +
      `${servedRow.defaults} | ${servedRow.non2xx} | ${row.direct.imagesPerS} (${s.batch}) | ${row.servedOverDirect.toFixed(2)}× |\n`,
  );
}

main().then(
  () => {
    if (process.argv[2] !== 'serve') process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`gpu_resnet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
