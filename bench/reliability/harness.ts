// The shared harness of the reliability scripts (bench/reliability/*.ts, issue 15). Import from here:
//
//   startServer({ args, env, cwd })     the real server as a child process (`clipper start` on free
//                                       ports): { pid, queryUrl, adminUrl, exited, output(), stop(), kill() }
//   admin(adminUrl, route, body)        POST /admin/<route> → { status, body }; adminOk throws unless 200
//   openLoop({ url, rateRps, durationS, seed, body, timeoutMs, onRecord })
//                                       Poisson open-loop load over keep-alive HTTP; one QueryRecord per
//                                       query { intendedMs, doneMs, latencyMs, status, isDefault, reason,
//                                       answered }; a query with no response by timeoutMs is answered:false
//   measureCapacity({ url, sloMs, body })
//                                       highest Poisson rate with >= 99% predictions by the SLO and at most
//                                       0.5% defaults (defaultShareMax); a failing level is tried twice
//   processStats(pid), sampleEvery(pid, ms)
//                                       RSS and open descriptors from /proc
//   summarize(records, sloMs), printJson(result)
//                                       the figures, and the JSON object each script prints last
//   waitFor(check, boundMs)             poll until true or the bound passes
//   startPrivateRedis()                 a private redis-server on a free port (never 6379): { url, kill(), start() }
//   readPolicyState(url, cluster, key)  a selection policy's stored state, read from that Redis
//
// Example (a script under bench/reliability/, run as node dist/bench/reliability/<name>.js):
//
//   const server = await startServer({ args: ['--model-dirs', dir] });
//   await adminOk(server.adminUrl, 'add_app', { name: 'a', input_type: 'doubles', default_output: '-1', latency_slo_micros: 20000 });
//   const records = await openLoop({ url: `${server.queryUrl}/a/predict`, rateRps: 1000, durationS: 5, seed: 1,
//                                    body: () => '{"input":[1,2,3]}' });
//   printJson(summarize(records, 20));
//   await server.stop();

export {
  type OpenLoopOptions,
  type QueryRecord,
  type CapacityOptions,
  type CapacityResult,
  measureCapacity,
  openLoop,
} from './harness_load.js';
export {
  type AdminResult,
  type ProcessStats,
  type Sampler,
  type ServerOptions,
  type ServerProcess,
  type StatsSample,
  admin,
  adminOk,
  processStats,
  sampleEvery,
  startServer,
  waitFor,
} from './harness_server.js';
export { freePort, type PrivateRedis, readPolicyState, startPrivateRedis } from './harness_redis.js';
export { type RunSummary, printJson, quantile, summarize } from './harness_summary.js';
