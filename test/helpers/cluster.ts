// Starting a real cluster (real threads, sockets, replica processes) on free ports for a test.
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Cluster, type ClusterOptions } from '../../src/cluster.js';
import type { ClipperConfig } from '../../src/config.js';
import { defaultModelDirs } from '../../src/model_dirs.js';
import { kRepoRoot } from '../../src/paths.js';
import type { AppRecord } from '../../src/state/records.js';
import { appRecordOf, deployRecord, nodeModelRecord } from '../../src/admin/deploy_local.js';
import type { InputType } from '../../src/input_types.js';

export const kFixtureModels = path.join(kRepoRoot, 'test', 'fixtures', 'models');
export const kExampleModels = path.join(kRepoRoot, 'containers', 'node', 'examples');
/** What tests deploy from (config.modelDirs): the defaults, the fixtures and temp dirs. */
export function testModelDirs(): string[] {
  return [...defaultModelDirs(), kFixtureModels, os.tmpdir()];
}

export async function startTestCluster(
  t: TestContext,
  config: Partial<ClipperConfig> = {},
  options: Omit<ClusterOptions, 'config'> = {},
): Promise<Cluster> {
  const cluster = await Cluster.start({
    ...options,
    config: { queryPort: 0, adminPort: 0, batchingThreads: 1, heartbeatMs: 200, modelDirs: testModelDirs(), ...config },
  });
  t.after(() => cluster.close());
  return cluster;
}

export { nodeModelRecord as nodeModel };

/** An app record with a test SLO of 2 s, so a busy machine does not miss it. */
export function appRecord(name: string, inputType: InputType, linked: string[], extra: Partial<AppRecord> = {}): AppRecord {
  return appRecordOf(name, inputType, linked, { latency_slo_micros: 2_000_000, ...extra });
}

/** Register a model version, wait for its replicas, make it current. */
export const deploy = deployRecord;

export interface PredictResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: parsed response JSON, which the tests index freely
  body: any;
  elapsedMs: number;
}

export async function postJson(port: number, urlPath: string, body: unknown): Promise<PredictResult> {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* plain text body */
  }
  return { status: res.status, body: parsed, elapsedMs: performance.now() - started };
}

/** Poll `probe` until it returns true, at most `timeoutMs` (a bound, not a speed assertion). */
export async function waitUntil(probe: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
