// Issue 15, item 3: fuzzing every parser with fast-check, at volume. The same properties as the CI
// tests (test/fuzz/*.test.ts: a fixed seed, a few hundred runs each), run here with many more cases
// and a seed of your choice:
//
//   in-process parsers: predict/update bodies, stream frames (JSON and msgpack), OIP infer bodies
//     (JSON and binary tensors), container frames, the runner's predict decoding, ring records,
//     state records and change messages read back, policy state, admin bodies (AdminService)
//   over sockets: a real server in its own process (`clipper start`, 127.0.0.1, free ports, a
//     sum-model replica): HTTP bodies and headers to predict, update, infer and admin, WebSocket
//     frames, a health-check query after every batch; a real Node runner process against a
//     malicious frontend; ReplicaConnection against a malicious replica
//
//   node dist/bench/reliability/fuzz.js [--cases 100000] [--seed S] [--batch 200] [--only name,...]
//
// Prints the seed first (rerun a failure with --seed S --only <property>), a line per property,
// then one JSON object: cases per parser, failures (seed, property, counterexample), crashes
// (the server or the runner exited), 5xx count. Exits non-zero on any failure.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { kRepoRoot } from '../../src/paths.js';
import type { FuzzProperty } from '../../test/fuzz/fuzz_property.js';
import { replicaProperty, runnerProperty, startRunner, type Runner } from '../../test/fuzz/peer_properties.js';
import { kAdminProperty } from '../../test/fuzz/props_admin.js';
import { kOipProperties } from '../../test/fuzz/props_oip.js';
import { kProtocolProperties } from '../../test/fuzz/props_protocol.js';
import { kQueryProperties } from '../../test/fuzz/props_query.js';
import { kRecordProperties } from '../../test/fuzz/props_records.js';
import { httpProperty, newServerStats, wsProperty, type FuzzTarget } from '../../test/fuzz/server_properties.js';
import { adminOk, printJson, startServer, waitFor, type ServerProcess } from './harness.js';

/** Shares of the cases that go over sockets (slower per case); the rest is split by weight. */
const kSocketShares: Readonly<Record<string, number>> = {
  http_bodies: 0.2,
  ws_frames: 0.1,
  runner_malicious_frontend: 0.04,
  replica_malicious_container: 0.02,
};

interface Failure {
  property: string;
  seed: number;
  message: string;
}

async function startTarget(batch: number): Promise<{ server: ServerProcess; target: FuzzTarget }> {
  const server = await startServer();
  try {
    return { server, target: await deployTarget(server, batch) };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

async function deployTarget(server: ServerProcess, batch: number): Promise<FuzzTarget> {
  const entry = path.join(kRepoRoot, 'containers', 'node', 'examples', 'sum_model.mjs');
  await adminOk(server.adminUrl, 'add_app', { name: 'fz', input_type: 'doubles', default_output: '-1', latency_slo_micros: 2_000_000 });
  await adminOk(server.adminUrl, 'add_model', {
    model_name: 'fz-sum',
    model_version: '1',
    input_type: 'doubles',
    labels: [],
    container_name: 'node',
    model_data_path: '',
    batch_size: -1,
    container: { runtime: 'node', entry, options: { isolate: 'inline' } },
    num_replicas: 1,
  });
  await adminOk(server.adminUrl, 'add_model', {
    model_name: 'fz-noop',
    model_version: '1',
    input_type: 'doubles',
    labels: [],
    container_name: 'node',
    model_data_path: '',
    batch_size: -1,
    container: { runtime: 'node', entry: path.join(path.dirname(entry), 'noop_model.mjs'), options: { isolate: 'inline' } },
    num_replicas: 1,
  });
  await adminOk(server.adminUrl, 'add_model_links', { app_name: 'fz', model_names: ['fz-sum'] });
  const learn = {
    name: 'fz-learn',
    input_type: 'doubles',
    default_output: '-1',
    latency_slo_micros: 2_000_000,
    selection_policy: 'exp3',
    policy_params: { personalized: true },
  };
  await adminOk(server.adminUrl, 'add_app', learn);
  await adminOk(server.adminUrl, 'add_model_links', { app_name: 'fz-learn', model_names: ['fz-sum', 'fz-noop'] });
  const answers = async (): Promise<boolean> => {
    try {
      const res = await fetch(`${server.queryUrl}/fz/predict`, { method: 'POST', body: '{"input":[1,2,3]}' });
      return ((await res.json()) as { output?: unknown }).output === 6;
    } catch {
      return false;
    }
  };
  if (!(await waitFor(answers, 60_000, 100))) throw new Error('the fuzz target never answered a predict');
  return { queryUrl: server.queryUrl, adminUrl: server.adminUrl, app: 'fz', learnApp: 'fz-learn', model: 'fz-sum', batch };
}

/** Cases per property: socket properties by kSocketShares, the in-process ones by weight. */
function plan(properties: readonly FuzzProperty[], cases: number): Map<FuzzProperty, number> {
  const out = new Map<FuzzProperty, number>();
  const local = properties.filter((p) => kSocketShares[p.name] === undefined);
  let socketCases = 0;
  for (const p of properties) {
    const share = kSocketShares[p.name];
    if (share === undefined) continue;
    const n = Math.max(1, Math.round(cases * share));
    out.set(p, n);
    socketCases += n;
  }
  const weights = local.reduce((sum, p) => sum + p.weight, 0);
  for (const p of local) out.set(p, Math.max(1, Math.round(((cases - socketCases) * p.weight) / weights)));
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string', default: '100000' },
      seed: { type: 'string' },
      batch: { type: 'string', default: '200' },
      only: { type: 'string' },
    },
  });
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const cases = Number(values.cases);
  const batch = Number(values.batch);
  console.log(`fuzz: seed ${seed}, ${cases} cases, health check every ${batch}`);
  const started = performance.now();
  const { server, target } = await startTarget(batch);
  const runner: Runner = await startRunner();
  let serverExit: number | null | undefined;
  let runnerExit: number | null | undefined;
  void server.exited.then((code) => {
    serverExit = code;
  });
  runner.child.once('exit', (code) => {
    runnerExit = code;
  });
  const stats = newServerStats();
  const all: FuzzProperty[] = [
    ...kQueryProperties,
    ...kOipProperties,
    ...kProtocolProperties,
    ...kRecordProperties,
    kAdminProperty,
    httpProperty(target, stats),
    wsProperty(target, stats),
    runnerProperty(runner, batch),
    replicaProperty,
  ];
  const only = values.only?.split(',');
  const chosen = only === undefined ? all : all.filter((p) => only.includes(p.name));
  const failures: Failure[] = [];
  const perParser: Record<string, number> = {};
  for (const [p, numRuns] of plan(chosen, cases)) {
    const t0 = performance.now();
    let status = 'ok';
    try {
      await p.run({ seed, numRuns });
    } catch (err) {
      status = 'FAILED';
      failures.push({ property: p.name, seed, message: (err instanceof Error ? err.message : String(err)).slice(0, 4000) });
    }
    perParser[p.parser] = (perParser[p.parser] ?? 0) + numRuns;
    const s = (performance.now() - t0) / 1000;
    console.log(`  ${p.name.padEnd(30)} ${String(numRuns).padStart(7)} cases  ${s.toFixed(1).padStart(6)} s  ${status}`);
    if (serverExit !== undefined || runnerExit !== undefined) break;
  }
  const crashes = (serverExit !== undefined ? 1 : 0) + (runnerExit !== undefined ? 1 : 0);
  await runner.stop();
  await server.stop();
  for (const f of failures) console.log(`\nFAILED ${f.property} (rerun: --seed ${f.seed} --only ${f.property}):\n${f.message}`);
  if (crashes > 0)
    console.log(`\nCRASH: server exit ${String(serverExit)}, runner exit ${String(runnerExit)}\n${server.output().slice(-4000)}`);
  const total = Object.values(perParser).reduce((a, b) => a + b, 0);
  printJson({
    seed,
    cases: total,
    casesPerParser: perParser,
    failures: failures.length,
    failed: failures.map((f) => f.property),
    crashes,
    serverErrors5xx: stats.serverErrors,
    statuses: stats.statuses,
    healthChecks: stats.healthChecks,
    durationS: Math.round((performance.now() - started) / 100) / 10,
  });
  process.exitCode = failures.length > 0 || crashes > 0 || stats.serverErrors > 0 ? 1 : 0;
}

await main();
