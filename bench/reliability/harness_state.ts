// The configuration the state-fault script and test (bench/reliability/state_faults.ts,
// test/integration/state_faults.test.ts) put into a cluster, and the view of it they compare before
// and after a fault: apps, models and their versions, the current version, links, and a bandit's
// learned state (ucb1 counts, stored in Redis by the selection worker).

import { admin, adminOk } from './harness_server.js';
import { readPolicyState } from './harness_redis.js';

export const kSumApp = 'sf-sum';
export const kBanditApp = 'sf-bandit';
const kSumEntry = 'containers/node/examples/sum_model.mjs';

function model(name: string, version: string): Record<string, unknown> {
  return {
    model_name: name,
    model_version: version,
    labels: ['reliability'],
    input_type: 'doubles',
    container_name: 'node',
    model_data_path: 'DEPRECATED',
    batch_size: -1,
    num_replicas: 1,
    container: { runtime: 'node', entry: kSumEntry, options: { isolate: 'inline' } },
  };
}

/**
 * Two apps: `sf-sum` → model `sum` (versions 1 and 2 deployed, 1 made current again), and `sf-bandit`
 * (ucb1) → `sum` and `sum2`. `sloMs` is both apps' SLO.
 */
export async function configureCluster(adminUrl: string, sloMs: number): Promise<void> {
  const app = (name: string, policy: string): Record<string, unknown> => ({
    name,
    input_type: 'doubles',
    default_output: '-1',
    latency_slo_micros: sloMs * 1000,
    selection_policy: policy,
  });
  await adminOk(adminUrl, 'add_app', app(kSumApp, 'default'));
  await adminOk(adminUrl, 'add_app', app(kBanditApp, 'ucb1'));
  await adminOk(adminUrl, 'add_model', model('sum', '1'));
  await adminOk(adminUrl, 'add_model', model('sum', '2'));
  await adminOk(adminUrl, 'set_model_version', { model_name: 'sum', model_version: '1' });
  await adminOk(adminUrl, 'add_model', model('sum2', '1'));
  await adminOk(adminUrl, 'add_model_links', { app_name: kSumApp, model_names: ['sum'] });
  await adminOk(adminUrl, 'add_model_links', { app_name: kBanditApp, model_names: ['sum', 'sum2'] });
}

/** What a user configured, as the admin API shows it (sorted, so two views compare with deepEqual). */
export async function configuredView(adminUrl: string): Promise<Record<string, unknown>> {
  const apps = (await adminOk(adminUrl, 'get_all_applications', { verbose: true })) as Array<Record<string, unknown>>;
  const models = (await adminOk(adminUrl, 'get_all_models', { verbose: true })) as Array<Record<string, unknown>>;
  const byName = (a: Record<string, unknown>, b: Record<string, unknown>): number =>
    JSON.stringify([a.name, a.model_name, a.model_version]).localeCompare(JSON.stringify([b.name, b.model_name, b.model_version]));
  return { apps: [...apps].sort(byName), models: [...models].sort(byName) };
}

/** Send `count` feedbacks to the bandit app (label = the sum, so `sum` and `sum2` are both right). */
export async function sendFeedback(queryUrl: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${queryUrl}/${kBanditApp}/update`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: [i, 1], label: i + 1 }),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`/update answered ${res.status}: ${text}`);
  }
}

/** The number of feedbacks the bandit's stored ucb1 state has learned from (sum of its counts; 0 when none). */
export async function storedFeedbackCount(redisUrl: string, clusterName: string): Promise<number> {
  const text = await readPolicyState(redisUrl, clusterName, kBanditApp);
  if (text === null) return 0;
  const wrapped = JSON.parse(text) as { policy: string };
  const policy = JSON.parse(wrapped.policy) as { state: { counts: number[] } };
  return policy.state.counts.reduce((a, b) => a + b, 0);
}

/** POST a prediction; resolves with the status and the parsed body. */
export async function predict(queryUrl: string, app: string, input: number[]): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${queryUrl}/${app}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** An admin write made while the store may be down: add (then keep) app `name`. */
export function probeWrite(adminUrl: string, name: string, timeoutMs: number) {
  return admin(adminUrl, 'add_app', { name, input_type: 'doubles', default_output: '0', latency_slo_micros: 100_000 }, {}, timeoutMs);
}
