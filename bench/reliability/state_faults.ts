// Reliability item 4 (issue 15), the Redis and server-restart parts, on a PRIVATE redis-server (a free
// port, `--save ""`; never the shared one on 6379) and the real server as a child process with
// `--state redis://…`. The configuration: bench/reliability/harness_state.ts (two apps, model versions,
// the current version, links, a ucb1 bandit with learned state).
//   (a) Redis SIGKILLed mid-load, started again (empty) later: the queries go on being answered as
//       before; admin writes during the outage get 503 with a JSON reason, each within a bound; once
//       Redis is back the frontend writes its copy of the state into it and writes succeed again;
//       nothing configured is lost.
//   (b) the server SIGKILLed and started again on the same Redis: everything configured is there,
//       the bandit continues from its learned state; time from restart to the first model answer.
// The last output line is one JSON object with the figures.
//
//   npm run build && node dist/bench/reliability/state_faults.js [--duration-s 12] [--rate-rps 500] [--seed 1]

import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';
import {
  openLoop,
  printJson,
  type PrivateRedis,
  type QueryRecord,
  type ServerProcess,
  startPrivateRedis,
  startServer,
  summarize,
  waitFor,
} from './harness.js';
import { configureCluster, configuredView, kSumApp, predict, probeWrite, sendFeedback, storedFeedbackCount } from './harness_state.js';

const kSloMs = 20;
const kCluster = 'state-faults-bench';
/** Bound on one admin write while Redis is away (the figure: a 503 well within it). */
const kWriteBoundMs = 5000;

interface Probe {
  atMs: number;
  status: number;
  latencyMs: number;
  code: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Admin writes every 250 ms until `untilMs` (performance.now()); each one's status, time and error code. */
async function probeUntil(adminUrl: string, untilMs: number, probes: Probe[]): Promise<void> {
  while (performance.now() < untilMs) {
    const t0 = performance.now();
    const r = await probeWrite(adminUrl, `probe-${probes.length}`, kWriteBoundMs).catch(() => ({ status: 0, body: { code: 'timeout' } }));
    const code = typeof r.body === 'object' && r.body !== null ? String((r.body as { code?: unknown }).code ?? '') : '';
    probes.push({ atMs: t0, status: r.status, latencyMs: Math.round(performance.now() - t0), code });
    await sleep(250 - (performance.now() - t0));
  }
}

const withoutProbes = (view: Record<string, unknown>): Record<string, unknown> => ({
  ...view,
  apps: (view.apps as Array<{ name: string }>).filter((a) => !a.name.startsWith('probe-')),
});

function windowSummary(records: QueryRecord[], fromMs: number, toMs: number) {
  const s = summarize(
    records.filter((r) => r.intendedMs >= fromMs && r.intendedMs < toMs),
    kSloMs,
  );
  return {
    sent: s.sent,
    unanswered: s.unanswered,
    defaults: s.defaults,
    errors: s.errors,
    bySloShare: s.bySloShare,
    latencyMsP99: s.latencyMsP99,
  };
}

/** (a): Redis killed at 1/3 of the run and started again at 2/3. */
async function redisOutage(redis: PrivateRedis, server: ServerProcess, o: { durationS: number; rateRps: number; seed: number }) {
  await sendFeedback(server.queryUrl, 10);
  await waitFor(async () => (await storedFeedbackCount(redis.url, kCluster)) >= 10, 10_000, 20);
  const before = await configuredView(server.adminUrl);
  const body = (i: number): string => `{"input":[${i},1]}`;
  const startMs = performance.now();
  const load = openLoop({ url: `${server.queryUrl}/${kSumApp}/predict`, rateRps: o.rateRps, durationS: o.durationS, seed: o.seed, body });
  const killMs = startMs + (o.durationS * 1000) / 3;
  const restartMs = startMs + (o.durationS * 2000) / 3;
  await sleep(killMs - performance.now());
  await redis.kill();
  const outageProbes: Probe[] = [];
  await probeUntil(server.adminUrl, restartMs, outageProbes);
  await redis.start();
  const startedMs = performance.now();
  const afterProbes: Probe[] = [];
  await probeUntil(server.adminUrl, startMs + o.durationS * 1000, afterProbes);
  const records = await load;
  const firstOk = afterProbes.find((p) => p.status === 200);
  const after = await configuredView(server.adminUrl);
  let nothingLost = true;
  try {
    assert.deepEqual(withoutProbes(after), withoutProbes(before));
  } catch {
    nothingLost = false;
  }
  return {
    load: summarize(records, kSloMs),
    beforeOutage: windowSummary(records, startMs, killMs),
    duringOutage: windowSummary(records, killMs, restartMs),
    afterRestart: windowSummary(records, restartMs, Number.POSITIVE_INFINITY),
    outageWrites: outageProbes.length,
    outageWriteStatuses: [...new Set(outageProbes.map((p) => `${p.status} ${p.code}`))],
    outageWriteLatencyMsMax: Math.max(0, ...outageProbes.map((p) => p.latencyMs)),
    writesOkAfterRestartMs: firstOk === undefined ? -1 : Math.round(firstOk.atMs + firstOk.latencyMs - startedMs),
    nothingLost,
    banditFeedbacksKept: await storedFeedbackCount(redis.url, kCluster),
  };
}

/** (b): SIGKILL the server, start another on the same Redis, compare. */
async function serverRestart(redis: PrivateRedis, server: ServerProcess) {
  await sendFeedback(server.queryUrl, 10);
  await waitFor(async () => (await storedFeedbackCount(redis.url, kCluster)) >= 20, 10_000, 20);
  const learned = await storedFeedbackCount(redis.url, kCluster);
  const before = await configuredView(server.adminUrl);
  server.kill('SIGKILL');
  await server.exited;
  const t0 = performance.now();
  const second = await startServer({ args: ['--state', redis.url, '--cluster-name', kCluster] });
  try {
    const listeningMs = Math.round(performance.now() - t0);
    const served = await waitFor(async () => (await predict(second.queryUrl, kSumApp, [1, 2])).body.output === 3, 30_000, 10);
    const firstPredictionMs = served ? Math.round(performance.now() - t0) : -1;
    let nothingLost = true;
    try {
      assert.deepEqual(await configuredView(second.adminUrl), before);
    } catch {
      nothingLost = false;
    }
    await sendFeedback(second.queryUrl, 1);
    await waitFor(async () => (await storedFeedbackCount(redis.url, kCluster)) > learned, 10_000, 20);
    const banditContinues = (await storedFeedbackCount(redis.url, kCluster)) === learned + 1;
    return { listeningMs, firstPredictionMs, nothingLost, banditFeedbacksBefore: learned, banditContinues };
  } finally {
    await second.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'duration-s': { type: 'string', default: '12' },
      'rate-rps': { type: 'string', default: '500' },
      seed: { type: 'string', default: '1' },
    },
  });
  const o = { durationS: Number(values['duration-s']), rateRps: Number(values['rate-rps']), seed: Number(values.seed) };
  const redis = await startPrivateRedis();
  let server: ServerProcess | null = null;
  try {
    server = await startServer({ args: ['--state', redis.url, '--cluster-name', kCluster] });
    await configureCluster(server.adminUrl, kSloMs);
    const a = await redisOutage(redis, server, o);
    const b = await serverRestart(redis, server);
    printJson({
      script: 'state_faults',
      date: new Date().toISOString(),
      sloMs: kSloMs,
      ...o,
      redisOutage: a,
      serverRestart: b,
      passed:
        a.load.unanswered === 0 &&
        a.outageWriteStatuses.every((s) => s.startsWith('503 CLP_ERR_STATE_UNAVAILABLE')) &&
        a.outageWriteLatencyMsMax < kWriteBoundMs &&
        a.writesOkAfterRestartMs >= 0 &&
        a.nothingLost &&
        b.nothingLost &&
        b.banditContinues,
    });
  } finally {
    await server?.stop();
    await redis.kill();
  }
}

await main();
