// The main end of the frontend threads (src/frontend_thread/frontend_group.ts) against fake threads
// on this thread's event loop: port sharing at start, configuration broadcast in order, feedback and
// asks relayed, stats pulled and added up (a silent thread bounded by the timeout), close.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MessagePort } from 'node:worker_threads';
import type { FrontendRings } from '../../src/batching/ring_port.js';
import type { ThreadStarter, ThreadTask } from '../../src/batching/threads.js';
import { ClipperError } from '../../src/errors.js';
import { FrontendGroup, type FrontendGroupPorts } from '../../src/frontend_thread/frontend_group.js';
import type { FrontendControl, FrontendEvent, FrontendInit } from '../../src/frontend_thread/messages.js';
import { zeroCacheStats } from '../../src/frontend_thread/stats_merge.js';
import { newAppStats } from '../../src/query/app_route.js';
import type { UserProbsListener } from '../../src/selection/selection_hub.js';
import { emptySnapshot } from '../../src/state/records.js';

interface FakeThread {
  init: FrontendInit;
  got: FrontendControl[];
  destroyed: boolean;
  post(event: FrontendEvent): void;
  /** Its task fails (the thread died). */
  fail(err: Error): void;
}

interface FakeOptions {
  /** The port thread i says it listens on (default: what it was given, or 4567 for 0). */
  listenPort?: (init: FrontendInit) => number;
  /** Whether thread i answers 'stats' (default yes). */
  answersStats?: (index: number) => boolean;
  /** Thread i fails at start with this error. */
  failAtStart?: (index: number) => Error | null;
  /** Whether thread i answers 'close' (default yes); one that does not closes when the test posts 'closed'. */
  answersClose?: (index: number) => boolean;
}

function fakeStarter(threads: FakeThread[], o: FakeOptions = {}): ThreadStarter<FrontendInit> {
  return {
    start(init): ThreadTask {
      const port: MessagePort = init.port;
      let finish!: () => void;
      let fail!: (err: Error) => void;
      const done = new Promise<void>((resolve, reject) => {
        finish = resolve;
        fail = reject;
      });
      const thread: FakeThread = { init, got: [], destroyed: false, post: (event) => port.postMessage(event), fail: (err) => fail(err) };
      threads.push(thread);
      port.on('message', (msg: FrontendControl) => {
        thread.got.push(msg);
        const i = init.frontendIndex;
        if (msg.kind === 'stats' && (o.answersStats?.(i) ?? true)) {
          const apps: Array<[string, ReturnType<typeof newAppStats>]> = [['app', { ...newAppStats(), queries: i + 1 }]];
          const counters = { queries: i + 1, answered: i + 1, defaults: 0, sloMisses: 0, cancelled: 0 };
          thread.post({
            kind: 'stats',
            requestId: msg.requestId,
            stats: { counters, pendingCount: 0, cache: zeroCacheStats(), apps, pipelines: [] },
          });
        }
        if (msg.kind === 'close' && (o.answersClose?.(i) ?? true)) {
          thread.post({ kind: 'closed' });
          setImmediate(() => {
            port.close();
            finish();
          });
        }
      });
      const failure = o.failAtStart?.(init.frontendIndex) ?? null;
      if (failure !== null) setImmediate(() => fail(failure));
      else thread.post({ kind: 'listening', port: o.listenPort?.(init) ?? (init.server.port || 4567), descriptor: null });
      return {
        done,
        destroy: async () => {
          thread.destroyed = true;
          port.close();
          finish();
        },
      };
    },
  };
}

interface FakeHub {
  listeners: UserProbsListener[];
  feedback: unknown[][];
  requested: unknown[][];
  feedbackError: Error | null;
}

function portsOf(hub: FakeHub, overrides: Partial<FrontendGroupPorts> = {}): FrontendGroupPorts {
  return {
    selection: {
      descriptors: () => [],
      onUserProbs: (listener) => {
        hub.listeners.push(listener);
      },
      requestUser: (...args) => {
        hub.requested.push(args);
      },
      feedbackFor: async (...args) => {
        hub.feedback.push(args);
        if (hub.feedbackError !== null) throw hub.feedbackError;
      },
    },
    metricsText: async (format) => ({ contentType: 'text/plain', body: `metrics ${format}` }),
    metricsJson: async () => '{}',
    actorStats: async () => [],
    log: () => undefined,
    ...overrides,
  };
}

function initOf(port = 0) {
  return () => ({
    rings: { frontendIndex: 0, queryRings: [], replyRings: [] },
    server: {
      host: '127.0.0.1',
      port,
      bodyBytesMax: 1024,
      tls: null,
      stream: {} as FrontendInit['server']['stream'],
      accept: 'reuseport' as const,
    },
    query: {
      cacheBytesMax: 0,
      sloMicrosMax: 1e6,
      oipTimeoutMsDefault: 1000,
      selectionSeed: 1,
      selectionUserStatesMax: 10,
      ringSpinCount: 0,
      ringPollUs: 0,
      pollPendingMax: 16,
    },
  });
}

const newHub = (): FakeHub => ({ listeners: [], feedback: [], requested: [], feedbackError: null });

/** Resolves once `check` holds (the ports deliver on later turns of the event loop). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(check(), 'condition not reached');
}

test('reuseport: thread 0 listens first, the others on the port it got', async () => {
  const threads: FakeThread[] = [];
  const group = new FrontendGroup({ count: 3, initOf: initOf(0), starter: fakeStarter(threads) }, portsOf(newHub()));
  assert.equal(group.port, -1);
  assert.equal(await group.start(), 4567);
  assert.equal(group.port, 4567);
  assert.deepEqual(
    threads.map((t) => [t.init.frontendIndex, t.init.frontendCount, t.init.server.port]),
    [
      [0, 3, 0],
      [1, 3, 4567],
      [2, 3, 4567],
    ],
  );
  await group.close();
  assert.ok(threads.every((t) => t.destroyed));
});

test('configuration reaches every thread in the order it was sent, also what was sent before they started', async () => {
  const threads: FakeThread[] = [];
  const hub = newHub();
  const group = new FrontendGroup({ count: 2, initOf: initOf(1400), starter: fakeStarter(threads) }, portsOf(hub));
  group.cache.setEnabled({ workerIndex: 0, modelIndex: 3 }, true);
  group.routes(emptySnapshot(), new Map([['m:1', { workerIndex: 0, modelIndex: 3 }]]));
  await group.start();
  group.forgetApp('gone');
  group.replicas([]);
  group.cache.forgetModel({ workerIndex: 0, modelIndex: 3 });
  hub.listeners[0]!('app', 2, 'user-1', [0.25, 0.75]);
  await until(() => threads.every((t) => t.got.length === 6));
  for (const t of threads) {
    assert.deepEqual(
      t.got.map((m) => m.kind),
      ['cache_enabled', 'routes', 'forget_app', 'replicas', 'cache_forget_model', 'user_probs'],
    );
    const routes = t.got[1] as Extract<FrontendControl, { kind: 'routes' }>;
    assert.deepEqual(routes.placements, [['m:1', { workerIndex: 0, modelIndex: 3 }]]);
    assert.deepEqual(t.got[5], { kind: 'user_probs', app: 'app', generation: 2, uid: 'user-1', probs: [0.25, 0.75] });
  }
  await group.close();
});

test('stats: every thread is asked and the answers add up; a silent thread is waited for no longer than the timeout', async () => {
  const threads: FakeThread[] = [];
  const starter = fakeStarter(threads, { answersStats: (i) => i !== 2 });
  const group = new FrontendGroup({ count: 3, initOf: initOf(1400), starter, statsTimeoutMs: 50 }, portsOf(newHub()));
  await group.start();
  assert.equal(group.counters.queries, 0, 'nothing before the first refresh');
  await group.refresh();
  assert.equal(group.counters.queries, 1 + 2, 'threads 0 and 1 answered');
  assert.equal(group.appStats('app').queries, 3);
  assert.equal(group.appStats('none').queries, 0);
  assert.equal(group.threadStats(1)?.counters.queries, 2);
  assert.equal(group.threadStats(2), null);
  await group.close();
  await group.refresh(); // after close: at once, with the last numbers
  assert.equal(group.counters.queries, 3);
});

test("feedback goes to the hub by app and generation; the thread gets its outcome, the error's code kept", async () => {
  const threads: FakeThread[] = [];
  const hub = newHub();
  const group = new FrontendGroup({ count: 1, initOf: initOf(1400), starter: fakeStarter(threads) }, portsOf(hub));
  await group.start();
  const t = threads[0]!;
  t.post({ kind: 'feedback', requestId: 7, app: 'a', generation: 3, uid: 'u', losses: [0, null], chosen: 1 });
  await until(() => t.got.some((m) => m.kind === 'feedback_done'));
  assert.deepEqual(hub.feedback, [['a', 3, 'u', [0, null], 1]]);
  assert.deepEqual(t.got.at(-1), { kind: 'feedback_done', requestId: 7, error: null });
  hub.feedbackError = new ClipperError('CLP_ERR_QUERY_PROCESSING', 'stale');
  t.post({ kind: 'feedback', requestId: 8, app: 'a', generation: 2, uid: null, losses: [1], chosen: null });
  await until(() => t.got.filter((m) => m.kind === 'feedback_done').length === 2);
  assert.deepEqual(t.got.at(-1), { kind: 'feedback_done', requestId: 8, error: { code: 'CLP_ERR_QUERY_PROCESSING', message: 'stale' } });
  t.post({ kind: 'user_probs_request', app: 'a', generation: 3, uid: 'v' });
  await until(() => hub.requested.length === 1);
  assert.deepEqual(hub.requested, [['a', 3, 'v']]);
  await group.close();
});

test('asks are answered from the main thread, a failure as a coded error', async () => {
  const threads: FakeThread[] = [];
  const ports = portsOf(newHub(), {
    actorStats: async () => {
      throw new Error('workers gone');
    },
  });
  const group = new FrontendGroup({ count: 1, initOf: initOf(1400), starter: fakeStarter(threads) }, ports);
  await group.start();
  const t = threads[0]!;
  t.post({ kind: 'ask', requestId: 1, what: 'metrics_text', format: 'openmetrics' });
  t.post({ kind: 'ask', requestId: 2, what: 'metrics_json' });
  t.post({ kind: 'ask', requestId: 3, what: 'actor_stats' });
  await until(() => t.got.filter((m) => m.kind === 'answer').length === 3);
  const answers = t.got
    .filter((m): m is Extract<FrontendControl, { kind: 'answer' }> => m.kind === 'answer')
    .sort((a, b) => a.requestId - b.requestId);
  assert.deepEqual(answers[0], {
    kind: 'answer',
    requestId: 1,
    value: { contentType: 'text/plain', body: 'metrics openmetrics' },
    error: null,
  });
  assert.deepEqual(answers[1], { kind: 'answer', requestId: 2, value: '{}', error: null });
  assert.deepEqual(answers[2], { kind: 'answer', requestId: 3, value: null, error: { code: 'CLP_ERR_INTERNAL', message: 'workers gone' } });
  await group.close();
});

test('a thread that fails at start fails start(), and close() still ends the others', async () => {
  const threads: FakeThread[] = [];
  const starter = fakeStarter(threads, { failAtStart: (i) => (i === 1 ? new Error('cannot listen') : null) });
  const group = new FrontendGroup({ count: 2, initOf: initOf(1400), starter }, portsOf(newHub()));
  await assert.rejects(group.start(), /cannot listen/);
  await group.close();
  assert.ok(threads.every((t) => t.destroyed));
  assert.ok(threads[0]!.got.some((m) => m.kind === 'close'));
});

test('close never ends a thread that has not closed its server: it waits, goes on, and ends it once it has', async () => {
  const threads: FakeThread[] = [];
  const lines: string[] = [];
  const starter = fakeStarter(threads, { answersClose: (i) => i !== 1 });
  const group = new FrontendGroup(
    { count: 2, initOf: initOf(1400), starter, closeTimeoutMs: 50 },
    portsOf(newHub(), { log: (line) => lines.push(line) }),
  );
  await group.start();
  await group.close();
  assert.equal(threads[0]!.destroyed, true);
  assert.equal(threads[1]!.destroyed, false, 'ending it now could abort the process (uWS sockets still open)');
  assert.ok(threads[1]!.got.some((m) => m.kind === 'close'));
  assert.deepEqual(lines, ['frontend thread 1 did not close within 50 ms: it is ended once it has closed its server']);
  threads[1]!.post({ kind: 'closed' });
  await until(() => threads[1]!.destroyed);
});

/** drainRings for the group: records which rings it drains and whether the drain was closed. */
function fakeDrains(): { drains: Array<{ rings: FrontendRings; closed: boolean }>; drainRings(rings: FrontendRings): { close(): void } } {
  const drains: Array<{ rings: FrontendRings; closed: boolean }> = [];
  return {
    drains,
    drainRings: (rings) => {
      const drain = { rings, closed: false };
      drains.push(drain);
      return {
        close: () => {
          drain.closed = true;
        },
      };
    },
  };
}

test("a thread's 'failing' takes it out: stats stop waiting for it, no configuration, told to close, its rings drained once it ended", async () => {
  const threads: FakeThread[] = [];
  const lines: string[] = [];
  const { drains, drainRings } = fakeDrains();
  // Thread 1 never answers stats: only its failure can settle a round (the timeout is far off).
  const starter = fakeStarter(threads, { answersStats: (i) => i !== 1 });
  const group = new FrontendGroup(
    { count: 2, initOf: initOf(1400), starter, statsTimeoutMs: 600_000, drainRings },
    portsOf(newHub(), { log: (line) => lines.push(line) }),
  );
  await group.start();
  assert.deepEqual(group.threadStates(), { alive: 2, failed: 0 });
  let settled = false;
  void group.refresh().then(() => {
    settled = true;
  });
  await until(() => threads[0]!.got.some((m) => m.kind === 'stats'));
  threads[1]!.post({ kind: 'failing', error: 'boom' });
  await until(() => settled);
  assert.deepEqual(group.threadStates(), { alive: 1, failed: 1 });
  assert.deepEqual(lines, ['frontend thread 1 failed: boom']);
  // Main tells it to close; the fake answers 'closed' and its task returns: then, and only then, its rings are drained.
  await until(() => drains.length === 1);
  assert.ok(threads[1]!.got.some((m) => m.kind === 'close'));
  assert.equal(drains[0]!.rings, threads[1]!.init.rings);
  assert.equal(drains[0]!.closed, false);
  group.routes(emptySnapshot(), new Map());
  await until(() => threads[0]!.got.some((m) => m.kind === 'routes'));
  assert.equal(
    threads[1]!.got.some((m) => m.kind === 'routes'),
    false,
    'a failed thread gets no configuration',
  );
  await group.refresh(); // thread 0 alone
  await group.close();
  assert.equal(drains[0]!.closed, true, 'drained until the group closes');
  assert.ok(threads.every((t) => t.destroyed));
  assert.equal(drains.length, 1);
});

test('a thread whose task fails on its own after it listened counts as failed and is drained; at close nothing is', async () => {
  const threads: FakeThread[] = [];
  const lines: string[] = [];
  const { drains, drainRings } = fakeDrains();
  const group = new FrontendGroup(
    { count: 2, initOf: initOf(1400), starter: fakeStarter(threads), drainRings },
    portsOf(newHub(), { log: (line) => lines.push(line) }),
  );
  await group.start();
  threads[0]!.fail(new Error('worker exited'));
  await until(() => drains.length === 1);
  assert.equal(drains[0]!.rings, threads[0]!.init.rings);
  assert.deepEqual(group.threadStates(), { alive: 1, failed: 1 });
  assert.deepEqual(lines, ['frontend thread 0 failed: worker exited']);
  await group.close();
  assert.equal(drains.length, 1, 'thread 1 closed with the group: its own ring port took its replies');
  assert.equal(drains[0]!.closed, true);
});
