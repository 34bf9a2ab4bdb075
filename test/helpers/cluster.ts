// Starting a real cluster (real threads, sockets, replica processes) on free ports for a test.
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Client } from 'undici';
import { Cluster, type ClusterOptions } from '../../src/cluster.js';
import type { ClipperConfig } from '../../src/config.js';
import { defaultModelDirs } from '../../src/model_dirs.js';
import { kRepoRoot } from '../../src/paths.js';
import type { AppRecord } from '../../src/state/records.js';
import { appRecordOf, deployRecord, nodeModelRecord } from '../../src/admin/deploy_local.js';
import type { InputType } from '../../src/input_types.js';
import type { QueryStatsSource } from '../../src/query/query_stats_source.js';

export const kFixtureModels = path.join(kRepoRoot, 'test', 'fixtures', 'models');
export const kExampleModels = path.join(kRepoRoot, 'containers', 'node', 'examples');
/** What tests deploy from (config.modelDirs): the defaults, the fixtures and temp dirs. */
export function testModelDirs(): string[] {
  return [...defaultModelDirs(), kFixtureModels, os.tmpdir()];
}

/**
 * A cluster on free ports, closed after the test. Its frontend threads follow the config given, else
 * CLIPPER_FRONTEND_THREADS (config_threads.ts): the same test runs in either mode.
 */
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
  // Which frontend mode this test ran in (scripts/run_tests.mjs runs these files in both).
  t.diagnostic(`frontend threads: ${cluster.config.frontendThreads}`);
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

/**
 * HTTP requests on one keep-alive connection. With frontend threads a connection stays on the thread
 * that accepted it, and each thread has its own prediction cache and in-flight queries: a test of
 * what one frontend remembers sends its queries this way (fetch's pool may open a new connection).
 */
export class OneConnection {
  readonly #client: Client;
  /** How many times the client connected (1 while the server kept the connection open). */
  connects = 0;

  constructor(port: number) {
    this.#client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
    this.#client.on('connect', () => {
      this.connects++;
    });
  }

  async postJson(urlPath: string, body: unknown): Promise<PredictResult> {
    const started = performance.now();
    const res = await this.#client.request({
      method: 'POST',
      path: urlPath,
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* plain text body */
    }
    return { status: res.statusCode, body: parsed, elapsedMs: performance.now() - started };
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/** One connection to `port`, closed after the test. */
export function oneConnection(t: TestContext, port: number): OneConnection {
  const connection = new OneConnection(port);
  t.after(() => connection.close());
  return connection;
}

/**
 * The query core's counters as of now, in either frontend mode: with frontend threads they live in the
 * threads, so `cluster.queryStats` is refreshed first (`cluster.processor` throws there).
 */
export async function queryStatsNow(cluster: Cluster): Promise<QueryStatsSource> {
  await cluster.queryStats.refresh();
  return cluster.queryStats;
}

/** Queries in flight in every frontend (a probe for waitUntil). */
export async function pendingNow(cluster: Cluster): Promise<number> {
  return (await queryStatsNow(cluster)).pendingCount;
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
