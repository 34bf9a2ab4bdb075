// Screenshots of the live dashboard under load for README and docs/dashboard.md: a cluster with the
// quickstart app (hello-world → sum-model) and a bandit app (`ranker`, exp3 over sum-model and
// timed-model, with feedback from 8 s on that favours sum-model, so its weights move), `clipper bench` ramping an
// open-loop load on hello-world while a steady load runs on both apps, then the whole page at 1280
// pixels wide and one model card, from Debian's chromium.
//
//   npm run build && node dist/bench/dashboard_screenshots.js [--out-dir docs/images] [--rates 300,1000,3000]
//
// Writes dashboard.png (whole page) and dashboard_model.png (the sum-model card).

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dashboardHook, launchChromium, openPage, pollUntil } from '../test/browser/browser.js';
import { startAdminServer } from '../src/admin/admin_server.js';
import { appRecordOf, deployRecord, nodeModelRecord } from '../src/admin/deploy_local.js';
import { installExample } from '../src/admin/example.js';
import { Cluster } from '../src/cluster.js';
import { kExamplesDir, kRepoRoot } from '../src/paths.js';
import { type RunningLoad, startLoad } from './dashboard_load.js';

async function startCluster(): Promise<Cluster> {
  const cluster = await Cluster.start({ config: { queryPort: 0, adminPort: 0 }, startAdmin: startAdminServer });
  await installExample(cluster);
  await deployRecord(cluster, nodeModelRecord('timed-model', '1', 'doubles', path.join(kExamplesDir, 'timed_model.mjs')));
  await cluster.store.putApp(
    appRecordOf('ranker', 'doubles', ['sum-model', 'timed-model'], { selection_policy: 'exp3', latency_slo_micros: 100_000 }),
  );
  return cluster;
}

/** `clipper bench` (tools/loadgen) ramping open-loop rates on hello-world; resolves when it exits. */
function runBench(queryPort: number, rates: string, outDir: string): Promise<void> {
  const args = [
    path.join(kRepoRoot, 'dist', 'tools', 'loadgen', 'main.js'),
    ...['--url', `http://127.0.0.1:${queryPort}`, '--app', 'hello-world', '--mode', 'open', '--rate', rates],
    ...['--duration-s', '5', '--warmup-s', '1', '--drain-s', '2', '--out-dir', outDir, '--quiet'],
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`clipper bench exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'out-dir': { type: 'string', default: path.join(kRepoRoot, 'docs', 'images') },
      rates: { type: 'string', default: '300,1000,3000' },
    },
  });
  const outDir = values['out-dir'];
  await mkdir(outDir, { recursive: true });
  const benchDir = await mkdtemp(path.join(os.tmpdir(), 'clipper-dashboard-shots-'));
  const cluster = await startCluster();
  const browser = await launchChromium();
  const load = startLoad(cluster.queryPort, [
    { app: 'hello-world', rateRps: 100 },
    { app: 'ranker', rateRps: 100 },
  ]);
  let feedback: RunningLoad | null = null;
  try {
    const { page, problems } = await openPage(browser, `http://127.0.0.1:${cluster.adminPort}/dashboard`, { heightPx: 800 });
    await pollUntil(
      () => dashboardHook(page),
      (h) => h?.connected === true,
      60_000,
      'the dashboard to go live',
    );
    // Feedback starts a few seconds into the ramp, so the chart shows exp3's weights before and while it learns.
    const learn = setTimeout(() => {
      // sum-model is exact for a label of the input's sum; timed-model answers 1.
      const label = (input: number[]) => input.reduce((a, b) => a + b, 0);
      feedback = startLoad(cluster.queryPort, [{ app: 'ranker', rateRps: 10, feedbackEvery: 1, feedbackLabel: label }]);
    }, 8000);
    await runBench(cluster.queryPort, values.rates, benchDir);
    clearTimeout(learn);
    const last = (await dashboardHook(page))!.snapshotsReceived;
    await pollUntil(
      () => dashboardHook(page),
      (h) => (h?.snapshotsReceived ?? 0) >= last + 3,
      60_000,
      'three snapshots after the ramp',
    );
    await page.screenshot({ path: path.join(outDir, 'dashboard.png'), fullPage: true });
    await page.locator('section.model-card[data-model="sum-model"]').screenshot({ path: path.join(outDir, 'dashboard_model.png') });
    if (problems.lines.length > 0) process.stderr.write(`the page complained: ${problems.lines.join('; ')}\n`);
    const c = load.counts('ranker');
    process.stdout.write(`wrote ${outDir}/dashboard.png and dashboard_model.png (ranker: ${c.answered} answered)\n`);
  } finally {
    await (feedback as RunningLoad | null)?.stop();
    await load.stop();
    await browser.close();
    await cluster.close();
    await rm(benchDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
