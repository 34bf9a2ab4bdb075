// One or two frontend threads (src/frontend_thread/frontend_worker.ts on piscina, as the cluster
// starts them) against a real BatchingPool whose frontends are all other threads (frontends = 2,
// mainFrontend = false) and a real replica process. The test plays the main thread's end of the
// port (messages.ts): it sends the routes, answers feedback, asks and closes, and checks what the
// thread sends back; queries go over HTTP on 127.0.0.1.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { App, us_listen_socket_close, us_socket_local_port, type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { appRecordOf, nodeModelRecord } from '../../src/admin/deploy_local.js';
import { BatchingPool } from '../../src/batching/pool.js';
import type { Placement } from '../../src/batching/protocol.js';
import { startThreadTask, type ThreadTask } from '../../src/batching/threads.js';
import { readyPort } from '../../src/containers/container_manager.js';
import { runnerCommand } from '../../src/containers/local_process.js';
import { ClipperError, toWireError } from '../../src/errors.js';
import { kStreamDefaults } from '../../src/frontend/stream_limits.js';
import type { FrontendControl, FrontendEvent, FrontendInit, SelectionDescriptor } from '../../src/frontend_thread/messages.js';
import { kRepoRoot } from '../../src/paths.js';
import { kExplainShutdown } from '../../src/query/explanations.js';
import { parsePolicyConfig } from '../../src/selection/policies/params.js';
import { createPolicy } from '../../src/selection/policies/registry.js';
import { createSnapshotBuffer, SnapshotWriter } from '../../src/selection/weights_snapshot.js';
import { modelKey, type AppRecord, type ModelRecord, type StateSnapshot } from '../../src/state/records.js';

const kWorkerPath = path.join(kRepoRoot, 'dist', 'src', 'frontend_thread', 'frontend_worker.js');
// v → v * 10; v ≥ 1000 sleeps v − 1000 ms first.
const kBehaviour = path.join(kRepoRoot, 'test', 'fixtures', 'models', 'behaviour_model.mjs');
const kRingBytes = 1 << 16;

/** The main thread's end of one frontend thread's port: every event it sent, and a wait for the next of a kind. */
class ThreadEnd {
  readonly events: FrontendEvent[] = [];
  readonly #waiters: Array<{ kind: FrontendEvent['kind']; resolve(event: FrontendEvent): void }> = [];
  readonly port: MessagePort;
  task: ThreadTask | null = null;

  constructor(port: MessagePort) {
    this.port = port;
    port.on('message', (event: FrontendEvent) => {
      const i = this.#waiters.findIndex((w) => w.kind === event.kind);
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(event);
      else this.events.push(event);
    });
  }

  next<K extends FrontendEvent['kind']>(kind: K): Promise<Extract<FrontendEvent, { kind: K }>> {
    const i = this.events.findIndex((e) => e.kind === kind);
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0] as Extract<FrontendEvent, { kind: K }>);
    return new Promise((resolve) => this.#waiters.push({ kind, resolve: (e) => resolve(e as Extract<FrontendEvent, { kind: K }>) }));
  }

  send(msg: FrontendControl): void {
    this.port.postMessage(msg);
  }

  /** Its counters; since messages are ordered, every message sent before is applied when this resolves. */
  async stats(requestId: number): Promise<Extract<FrontendEvent, { kind: 'stats' }>['stats']> {
    this.send({ kind: 'stats', requestId });
    const event = await this.next('stats');
    assert.equal(event.requestId, requestId);
    return event.stats;
  }

  async close(): Promise<void> {
    this.send({ kind: 'close' });
    await this.next('closed');
    await this.end();
  }

  /** Waits for the task to return, then ends the thread (once). */
  async end(): Promise<void> {
    const task = this.task;
    this.task = null;
    await task?.done;
    await task?.destroy();
    this.port.close();
  }
}

interface Rig {
  pool: BatchingPool;
  behave: Placement;
  /** A model with no replica. */
  idle: Placement;
}

/** A pool of one batching thread with frontends 0 and 1 elsewhere, model 'behave' served by a replica process. */
async function startRig(t: TestContext): Promise<Rig> {
  const connected: Array<() => void> = [];
  const pool = new BatchingPool(
    {
      threads: 1,
      ringBytes: kRingBytes,
      spinCountWorker: 10,
      spinCountMain: 10,
      pollUsMain: 0,
      pollUsWorker: 0,
      shouldPollMain: () => false,
      connection: {
        heartbeatMs: 200,
        livenessTimeoutMs: 1000,
        handshakeTimeoutMs: 5000,
        reconnectDelayMsMin: 50,
        reconnectDelayMsMax: 500,
      },
      frontends: 2,
      mainFrontend: false,
    },
    () => assert.fail('no frontend is the main thread: no reply comes here'),
    (_placement, _replica, isConnected) => {
      if (isConnected) for (const done of connected.splice(0)) done();
    },
  );
  pool.start();
  t.after(() => pool.close());
  const behave = pool.addModel({ name: 'behave', version: '1', inputType: 'doubles', scheduler: {} });
  const idle = pool.addModel({ name: 'idle', version: '1', inputType: 'doubles', scheduler: {} });
  const replica = await startReplica(t, behaviourRecord('behave'));
  const ready = new Promise<void>((resolve) => connected.push(resolve));
  pool.addReplica(behave, 0, '127.0.0.1', replica);
  await ready;
  return { pool, behave, idle };
}

function behaviourRecord(name: string): ModelRecord {
  return nodeModelRecord(name, '1', 'doubles', kBehaviour);
}

/** The replica's process (killed after the test); resolves with its port once it listens. */
async function startReplica(t: TestContext, record: ModelRecord): Promise<number> {
  const { command, args } = runnerCommand(record);
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the replica exited (${code}) before it listened`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const port = readyPort(line);
      if (port !== null) resolve(port);
    });
  });
}

/** Starts frontend thread `index` (the thread ends after the test whatever happens). */
function startThread(t: TestContext, rig: Rig, index: number, port: number, accept: 'reuseport' | 'acceptor'): ThreadEnd {
  const channel = new MessageChannel();
  const end = new ThreadEnd(channel.port1);
  const init: FrontendInit = {
    frontendIndex: index,
    frontendCount: 2,
    rings: rig.pool.frontendRings(index),
    port: channel.port2,
    server: { host: '127.0.0.1', port, bodyBytesMax: 1 << 20, tls: null, stream: { ...kStreamDefaults }, accept },
    query: {
      cacheBytesMax: 0,
      sloMicrosMax: 60_000_000,
      oipTimeoutMsDefault: 10_000,
      selectionSeed: 1,
      selectionUserStatesMax: 100,
      ringSpinCount: 10,
      ringPollUs: 0,
      pollPendingMax: 16,
    },
  };
  end.task = startThreadTask(kWorkerPath, init, [channel.port2]);
  // A thread ended with its app still open takes the process down (uWS's handles outlive the loop):
  // close it first (bounded), whatever the test did.
  t.after(async () => {
    if (end.task === null) return;
    end.send({ kind: 'close' });
    await Promise.race([end.next('closed'), new Promise((r) => setTimeout(r, 5000))]);
    const task = end.task;
    end.task = null;
    await task?.destroy();
    end.port.close();
  });
  return end;
}

function snapshotOf(apps: AppRecord[], models: ModelRecord[]): StateSnapshot {
  return {
    apps: new Map(apps.map((a) => [a.name, a])),
    models: new Map(models.map((m) => [modelKey(m.model_name, m.model_version), m])),
    currentVersions: new Map(models.map((m) => [m.model_name, m.model_version])),
  };
}

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: parsed response JSON, which the tests index freely
  body: any;
  text: string;
}

/** One request on a connection of its own (no keep-alive: the kernel or the acceptor places each anew). */
function request(port: number, method: string, urlPath: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

test('two frontend threads share a port (reuseport) and answer predict over their own rings', async (t) => {
  const rig = await startRig(t);
  const first = startThread(t, rig, 0, 0, 'reuseport');
  const l0 = await first.next('listening');
  assert.ok(l0.port > 0, 'thread 0 picks a free port');
  assert.equal(l0.descriptor, null);
  const second = startThread(t, rig, 1, l0.port, 'reuseport');
  const l1 = await second.next('listening');
  assert.equal(l1.port, l0.port, 'thread 1 listens on the same port');

  const notReady = await request(l0.port, 'GET', '/v2/health/ready');
  assert.equal(notReady.status, 400, 'not ready before the first routes');
  const app = appRecordOf('tens', 'doubles', ['behave'], { latency_slo_micros: 10_000_000 });
  const routes: FrontendControl = {
    kind: 'routes',
    snapshot: snapshotOf([app], [behaviourRecord('behave')]),
    placements: [[modelKey('behave', '1'), rig.behave]],
    selections: [],
  };
  for (const end of [first, second]) {
    end.send(routes);
    await end.stats(1);
  }

  const inputs = [1, 2, 3, 4, 5, 6, 7, 8];
  const replies = await Promise.all(inputs.map((v) => request(l0.port, 'POST', '/tens/predict', { input: [v] })));
  for (const [i, reply] of replies.entries()) {
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.body.output, inputs[i]! * 10);
    assert.equal(reply.body.default, false);
  }
  const stats = [await first.stats(2), await second.stats(2)];
  assert.equal(stats[0]!.counters.answered + stats[1]!.counters.answered, inputs.length, 'every query answered by one of the threads');
  assert.equal(stats[0]!.apps.find(([name]) => name === 'tens')?.[1].queries ?? 0, stats[0]!.counters.queries);
  // Query ids are unique across the threads: thread k hands out k, k + 2, k + 4, …
  const ids = replies.map((r) => r.body.query_id as number);
  assert.equal(new Set(ids).size, ids.length, 'no two threads give the same query id');
  assert.equal(ids.filter((id) => id % 2 === 0).length, stats[0]!.counters.queries, "thread 0's ids are the even ones");
  const missing = await request(l0.port, 'POST', '/nope/predict', { input: [1] });
  assert.equal(missing.status, 404);
  assert.equal((await request(l0.port, 'GET', '/v2/health/ready')).status, 200);

  await first.close();
  await second.close();
});

test('the thread asks main for /metrics and OIP statistics, and passes main errors on with their status', async (t) => {
  const rig = await startRig(t);
  const end = startThread(t, rig, 1, 0, 'reuseport');
  const { port } = await end.next('listening');

  const metrics = request(port, 'GET', '/metrics/prometheus');
  const ask = await end.next('ask');
  assert.equal(ask.what, 'metrics_text');
  assert.equal(ask.format, 'prometheus');
  end.send({
    kind: 'answer',
    requestId: ask.requestId,
    value: { contentType: 'text/plain; version=0.0.4', body: 'clipper_up 1\n' },
    error: null,
  });
  const got = await metrics;
  assert.equal(got.status, 200);
  assert.equal(got.text, 'clipper_up 1\n');

  const json = request(port, 'GET', '/metrics/json');
  const askJson = await end.next('ask');
  assert.equal(askJson.what, 'metrics_json');
  end.send({
    kind: 'answer',
    requestId: askJson.requestId,
    value: null,
    error: toWireError(new ClipperError('CLP_ERR_STATE_UNAVAILABLE', 'store down')),
  });
  const failed = await json;
  assert.equal(failed.status, 503, 'the code main sent sets the status');
  assert.match(failed.text, /store down/);

  const oip = request(port, 'GET', '/v2/models/stats');
  const askStats = await end.next('ask');
  assert.equal(askStats.what, 'actor_stats');
  end.send({ kind: 'answer', requestId: askStats.requestId, value: [], error: null });
  const oipReply = await oip;
  assert.equal(oipReply.status, 200);
  assert.deepEqual(oipReply.body, { model_stats: [] });
  await end.close();
});

/** An exp3 app over 'behave' and 'idle', personalised, with the descriptor main's hub would make. */
function selectionApp(rig: Rig): { routes: FrontendControl; descriptor: SelectionDescriptor } {
  const config = parsePolicyConfig('exp3', { personalized: true }, 2);
  const sab = createSnapshotBuffer(2);
  const policy = createPolicy(config, 2);
  new SnapshotWriter(sab).publish(policy.snapshot(), policy.mode);
  const models = ['behave', 'idle'];
  const descriptor: SelectionDescriptor = {
    app: 'pick',
    generation: 7,
    signature: JSON.stringify([config.policy, config.params, models]),
    config,
    mode: policy.mode,
    models,
    sab,
    userEntriesMax: 100,
  };
  const app = appRecordOf('pick', 'doubles', models, {
    latency_slo_micros: 10_000_000,
    selection_policy: 'exp3',
    policy_params: { personalized: true },
  });
  const snapshot = snapshotOf([app], [behaviourRecord('behave'), behaviourRecord('idle')]);
  const placements: Array<[string, Placement]> = [
    [modelKey('behave', '1'), rig.behave],
    [modelKey('idle', '1'), rig.idle],
  ];
  return { routes: { kind: 'routes', snapshot, placements, selections: [descriptor] }, descriptor };
}

/** Main's acceptor app handing its connections to the thread's app (accept 'acceptor'). */
function acceptorFor(t: TestContext, descriptor: unknown): Promise<{ app: TemplatedApp; port: number; close(): void }> {
  const app = App() as TemplatedApp & { addChildAppDescriptor(d: unknown): void; removeChildAppDescriptor(d: unknown): void };
  app.addChildAppDescriptor(descriptor);
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token: us_listen_socket | false) => {
      if (token === false) {
        reject(new Error('the acceptor cannot listen'));
        return;
      }
      let open = true;
      const close = (): void => {
        if (!open) return;
        open = false;
        app.removeChildAppDescriptor(descriptor);
        us_listen_socket_close(token);
      };
      t.after(close);
      resolve({ app, port: us_socket_local_port(token), close });
    });
  });
}

test('acceptor mode: feedback goes to main and waits for its answer; unknown users are asked of main', async (t) => {
  const rig = await startRig(t);
  const end = startThread(t, rig, 1, 0, 'acceptor');
  const listening = await end.next('listening');
  assert.equal(listening.port, -1, 'the thread does not listen itself');
  assert.equal(typeof listening.descriptor, 'number', "uWS's app descriptor");
  const acceptor = await acceptorFor(t, listening.descriptor);
  const { routes, descriptor } = selectionApp(rig);
  end.send(routes);
  await end.stats(1);

  const update = request(acceptor.port, 'POST', '/pick/update', { uid: 'ann', input: [3], label: 30 });
  const feedback = await end.next('feedback');
  assert.equal(feedback.app, 'pick');
  assert.equal(feedback.generation, descriptor.generation);
  assert.equal(feedback.uid, 'ann', 'a personalised app sends the user');
  assert.ok(feedback.chosen === 0 || feedback.chosen === 1);
  assert.equal(feedback.losses.length, 2);
  if (feedback.chosen === 0) assert.equal(feedback.losses[0], 0, "'behave' answered 30 for 3: no loss");
  end.send({ kind: 'feedback_done', requestId: feedback.requestId, error: null });
  const ok = await update;
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.feedback_received, true);

  const stale = request(acceptor.port, 'POST', '/pick/update', { input: [3], label: 30 });
  const second = await end.next('feedback');
  assert.equal(second.uid, null);
  end.send({ kind: 'feedback_done', requestId: second.requestId, error: 'the application changed (generation 7 is gone)' });
  const refused = await stale;
  assert.equal(refused.status, 400);
  assert.match(refused.text, /generation 7 is gone/);

  assert.deepEqual(await end.next('user_probs_request'), { kind: 'user_probs_request', app: 'pick', generation: 7, uid: 'ann' });
  const predict = await request(acceptor.port, 'POST', '/pick/predict', { uid: 'bob', input: [4] });
  assert.equal(predict.status, 200, predict.text);
  assert.deepEqual(await end.next('user_probs_request'), { kind: 'user_probs_request', app: 'pick', generation: 7, uid: 'bob' });

  // What main sends of a user's probabilities decides that user's model: bob gets 'behave' only, cid 'idle' only.
  end.send({ kind: 'user_probs', app: 'pick', generation: 7, uid: 'bob', probs: [1, 0] });
  end.send({ kind: 'user_probs', app: 'pick', generation: 7, uid: 'cid', probs: [0, 1] });
  end.send({ kind: 'user_probs', app: 'pick', generation: 6, uid: 'dee', probs: [0, 1] });
  await end.stats(2);
  for (let i = 0; i < 4; i++) {
    const bob = await request(acceptor.port, 'POST', '/pick/predict', { uid: 'bob', input: [4] });
    assert.deepEqual([bob.body.output, bob.body.default], [40, false]);
    const cid = await request(acceptor.port, 'POST', '/pick/predict', { uid: 'cid', input: [4] });
    assert.equal(cid.body.default, true, "'idle' has no replica");
  }
  await request(acceptor.port, 'POST', '/pick/predict', { uid: 'dee', input: [4] });
  const dee = await end.next('user_probs_request');
  assert.equal(dee.uid, 'dee', 'probabilities of another generation are not taken');

  acceptor.close();
  await end.close();
});

test('close answers the open queries with the shutdown default, then the thread ends', async (t) => {
  const rig = await startRig(t);
  const end = startThread(t, rig, 0, 0, 'reuseport');
  const { port } = await end.next('listening');
  const app = appRecordOf('slow', 'doubles', ['behave'], { latency_slo_micros: 30_000_000 });
  end.send({
    kind: 'routes',
    snapshot: snapshotOf([app], [behaviourRecord('behave')]),
    placements: [[modelKey('behave', '1'), rig.behave]],
    selections: [],
  });
  await end.stats(1);

  const slow = request(port, 'POST', '/slow/predict', { input: [1000 + 20_000] });
  for (let id = 2; (await end.stats(id)).pendingCount === 0; id++) await new Promise((r) => setTimeout(r, 20));
  end.send({ kind: 'close' });
  const answer = await slow;
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.body.default, true);
  assert.equal(answer.body.default_explanation, kExplainShutdown);
  await end.next('closed');
  await end.end();
  await assert.rejects(request(port, 'GET', '/healthz'), 'nothing listens after close');
});
