// Reliability item 1 (issue 15): a replica killed under load. The real server runs as a child process
// with a Node model of 2 replicas whose batch of n takes t(n) = 2 ms + 0.05 ms·n
// (containers/node/examples/timed_model.mjs), behind an app with a 20 ms SLO. Open-loop Poisson load at
// 50% of the capacity measured first (or --capacity-rps); meanwhile one replica is SIGKILLed `--kills`
// times, evenly spread, alternating between the replicas (`docker kill` of its container with
// --manager docker). Figures, printed as one JSON object on the last line:
//   unanswered          queries with no answer within 5 s (must be 0)
//   lateAnswers         answers later than SLO + 5 ms (must be 0)
//   recoveryMs          per kill: from the kill until the admin API lists that replica connected again
//                       with a new process (must be <= 1000 each)
//   defaultsByReason    the default answers and their reasons
//
//   npm run build && node dist/bench/reliability/replica_kill.js [--duration-s 15] [--kills 3]
//       [--capacity-rps N] [--load-share 0.5] [--manager local|docker] [--seed 1] [--dump records.jsonl]

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { admin, adminOk, measureCapacity, openLoop, printJson, type ServerProcess, startServer, summarize, waitFor } from './harness.js';

const kSloMs = 20;
const kApp = 'replica-kill';
const kModel = 'timed';

interface Replica {
  replicaId: number;
  pid: number | null;
  containerId: string | null;
  connected: boolean;
  restartCount: number;
}

async function replicas(adminUrl: string): Promise<Replica[]> {
  const rows = (await adminOk(adminUrl, 'get_all_containers', { verbose: true })) as Array<Record<string, unknown>>;
  return rows
    .filter((r) => r.model_name === kModel)
    .map((r) => ({
      replicaId: Number(r.model_replica_id),
      pid: typeof r.pid === 'number' ? r.pid : null,
      containerId: typeof r.container_id === 'string' ? r.container_id : null,
      connected: r.connected === true,
      restartCount: Number(r.restart_count),
    }));
}

async function deploy(server: ServerProcess, manager: string): Promise<void> {
  await adminOk(server.adminUrl, 'add_app', {
    name: kApp,
    input_type: 'doubles',
    default_output: '-1',
    latency_slo_micros: kSloMs * 1000,
  });
  await adminOk(
    server.adminUrl,
    'add_model',
    {
      model_name: kModel,
      model_version: '1',
      labels: [],
      input_type: 'doubles',
      container_name: 'bench',
      model_data_path: 'DEPRECATED',
      batch_size: -1,
      num_replicas: 2,
      cache_enabled: false,
      container: { manager, runtime: 'node', entry: 'containers/node/examples/timed_model.mjs', options: { isolate: 'inline' } },
    },
    {},
    600_000,
  ); // a first Docker deploy builds the image
  await adminOk(server.adminUrl, 'add_model_links', { app_name: kApp, model_names: [kModel] });
  const ready = await waitFor(async () => (await replicas(server.adminUrl)).filter((r) => r.connected).length === 2, 120_000, 50);
  if (!ready) throw new Error('the 2 replicas did not connect within 120 s');
}

function dockerKill(containerId: string): Promise<void> {
  return new Promise((resolve, reject) => execFile('docker', ['kill', containerId], (err) => (err === null ? resolve() : reject(err))));
}

/**
 * Kill replica `replicaId`; resolves with the ms until the admin API lists it connected again after a
 * restart: seen disconnected, then connected with a higher restart count (a Docker replica may keep
 * its container id across a restart). -1: not within 10 s.
 */
async function killAndWatch(adminUrl: string, replicaId: number): Promise<number> {
  const before = (await replicas(adminUrl)).find((r) => r.replicaId === replicaId);
  if (before === undefined) throw new Error(`replica ${replicaId} is not listed`);
  const t0 = performance.now();
  if (before.containerId !== null) await dockerKill(before.containerId);
  else if (before.pid !== null) process.kill(before.pid, 'SIGKILL');
  else throw new Error(`replica ${replicaId} has neither a pid nor a container`);
  let sawDown = false;
  const back = await waitFor(
    async () => {
      const now = (await replicas(adminUrl)).find((r) => r.replicaId === replicaId);
      if (now === undefined || !now.connected) sawDown = true;
      return now !== undefined && sawDown && now.connected && now.restartCount > before.restartCount;
    },
    10_000,
    5,
  );
  return back ? Math.round(performance.now() - t0) : -1;
}

function options() {
  const { values } = parseArgs({
    options: {
      'duration-s': { type: 'string', default: '15' },
      kills: { type: 'string', default: '3' },
      'capacity-rps': { type: 'string' },
      'load-share': { type: 'string', default: '0.5' },
      manager: { type: 'string', default: 'local' },
      seed: { type: 'string', default: '1' },
      dump: { type: 'string' },
    },
  });
  return {
    durationS: Number(values['duration-s']),
    kills: Number(values.kills),
    capacityRps: values['capacity-rps'] === undefined ? null : Number(values['capacity-rps']),
    loadShare: Number(values['load-share']),
    manager: values.manager === 'docker' ? 'docker' : 'local',
    seed: Number(values.seed),
    /** Write every query record (JSON lines, with sinceKillMs) to this file. */
    dump: values.dump,
  };
}

async function main(): Promise<void> {
  const o = options();
  let stopDocker = async (): Promise<void> => {};
  if (o.manager === 'docker') {
    const { ensureDocker } = (await import(new URL('../../../scripts/docker_daemon.mjs', import.meta.url).href)) as {
      ensureDocker: () => Promise<() => Promise<void>>;
    };
    stopDocker = await ensureDocker();
  }
  const server = await startServer({ args: ['--batch-size-max', '512'], startTimeoutMs: 600_000 });
  let result: Record<string, unknown> = {};
  try {
    await deploy(server, o.manager);
    const url = `${server.queryUrl}/${kApp}/predict`;
    const body = (i: number): string => `{"input":[${i},1.5,2.5]}`;
    const capacity = o.capacityRps === null ? await measureCapacity({ url, sloMs: kSloMs, body, levelS: 1.5, seed: o.seed + 100 }) : null;
    const capacityRps = o.capacityRps ?? capacity!.capacityRps;
    const rateRps = Math.max(1, Math.round(capacityRps * o.loadShare));
    const loadStartMs = performance.now();
    const load = openLoop({ url, rateRps, durationS: o.durationS, seed: o.seed, body, timeoutMs: 5000 });
    const recoveryMs: number[] = [];
    const killAtMs: number[] = [];
    for (let k = 0; k < o.kills; k++) {
      const atMs = loadStartMs + ((k + 1) * o.durationS * 1000) / (o.kills + 1);
      await new Promise((r) => setTimeout(r, Math.max(0, atMs - performance.now())));
      killAtMs.push(performance.now());
      recoveryMs.push(await killAndWatch(server.adminUrl, k % 2));
    }
    const records = await load;
    if (o.dump !== undefined) {
      const lines = records.map((r) =>
        JSON.stringify({ ...r, sinceKillMs: r.intendedMs - (killAtMs.filter((k) => k <= r.intendedMs).at(-1) ?? Number.NaN) }),
      );
      writeFileSync(o.dump, `${lines.join('\n')}\n`);
    }
    const s = summarize(records, kSloMs);
    const late = records.filter((r) => r.answered && r.latencyMs > kSloMs + 5);
    const lateAnswers = late.length;
    // Late answers sent within 1 s after a kill, against the rest of the run (machine noise).
    const nearKill = (ms: number): boolean => killAtMs.some((k) => ms >= k - 50 && ms < k + 1000);
    // When the late answers were sent, relative to the last kill before them (100 ms buckets).
    const lateByOffsetMs: Record<string, number> = {};
    for (const r of late) {
      const k = killAtMs.filter((x) => x <= r.intendedMs + 50).at(-1);
      const key = k === undefined ? 'before-first-kill' : String(Math.floor((r.intendedMs - k) / 100) * 100);
      lateByOffsetMs[key] = (lateByOffsetMs[key] ?? 0) + 1;
    }
    const lateDefaults = late.filter((r) => r.isDefault).length;
    const lateNearKills = late.filter((r) => nearKill(r.intendedMs)).length;
    const sentNearKills = records.filter((r) => nearKill(r.intendedMs)).length;
    const recoveryMsMax = Math.max(...recoveryMs);
    const after = await admin(server.adminUrl, 'get_all_containers', { verbose: true });
    result = {
      script: 'replica_kill',
      manager: o.manager,
      date: new Date().toISOString(),
      sloMs: kSloMs,
      capacityRps,
      capacityLevels: capacity?.levels ?? null,
      rateRps,
      durationS: o.durationS,
      kills: o.kills,
      recoveryMs,
      recoveryMsMax,
      lateAnswers,
      lateNearKills,
      lateDefaults,
      lateByOffsetMs,
      sentNearKills,
      lateElsewhere: lateAnswers - lateNearKills,
      sentElsewhere: records.length - sentNearKills,
      ...s,
      replicasAfter: after.body,
      passed: s.unanswered === 0 && lateAnswers === 0 && recoveryMs.every((ms) => ms >= 0 && ms <= 1000),
    };
  } finally {
    await server.stop();
    await stopDocker(); // it prints a line: before the result, which must come last
  }
  printJson(result);
}

await main();
