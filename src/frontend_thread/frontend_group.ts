// The main thread's end of the frontend threads (config frontendThreads > 1; docs/architecture.md,
// "Frontend threads"): it starts them (frontend_worker.ts, one long-lived task each, batching/
// threads.ts), shares the query port among them, tells them every configuration change, relays
// their feedback and users' probabilities to the SelectionHub, answers what they ask (the metrics
// scrape, the models' stats) and adds up their counters (it is the QueryStatsSource of the main
// thread: stats_merge.ts). Nothing here is on a query's path: queries go from each thread straight
// to the batching workers' rings.
//
// Port sharing (config frontendAccept): 'reuseport' has every thread listen on host:port
// (SO_REUSEPORT: uWS listens without LIBUS_LISTEN_EXCLUSIVE_PORT, the kernel spreads connections);
// with port 0, thread 0 finds a free port (http/listen.ts listenShared) and the others take it. 'acceptor' (the default:
// config.ts says why) has the main thread listen with one uWS app that hands each accepted
// connection to the threads' apps in turn (acceptor.ts).
//
// A thread that fails posts 'failing' and keeps its app open: the group takes it out of the
// acceptor's turn, then tells it to close; once it has ended, the group drains its reply rings
// (group_member.ts drainRings) until the group closes. The other threads serve on.
//
// A thread is ended (its task destroyed) only once it has closed its uWS app: see close().

import path from 'node:path';
import type { ReplicaStatus } from '../admin/admin_context.js';
import type { ModelActorStats, Placement } from '../batching/protocol.js';
import type { FrontendRings } from '../batching/ring_port.js';
import { threadStarter, type ThreadStarter } from '../batching/threads.js';
import type { PredictionCacheStats } from '../cache/cache_types.js';
import { ClipperError, toWireError } from '../errors.js';
import { kRepoRoot } from '../paths.js';
import { newAppStats, type AppStats } from '../query/app_route.js';
import type { QueryCounters } from '../query/query_processor.js';
import type { QueryStatsSource } from '../query/query_stats_source.js';
import type { AppPipelineStats } from '../query/stage_stats.js';
import type { SelectionHub } from '../selection/selection_hub.js';
import type { StateSnapshot } from '../state/records.js';
import { BroadcastCache } from './broadcast_cache.js';
import { Acceptor } from './acceptor.js';
import { drainRings, markEnded, newMember, type Member, type RingDrain } from './group_member.js';
import type { FrontendControl, FrontendEvent, FrontendInit, FrontendStats } from './messages.js';
import { StatsPull } from './stats_pull.js';

export const kFrontendWorkerPath = path.join(kRepoRoot, 'dist', 'src', 'frontend_thread', 'frontend_worker.js');

/**
 * A stats refresh's wait for the threads. A thread answers between two of its event-loop tasks, so
 * on a loaded machine of 2 cores, where it shares a core with the batching and replica threads, 1 s
 * was once not enough and /metrics then read the previous counts; only readers off the query path
 * (a scrape, the dashboard sampler, the tuner) wait for it.
 */
export const kStatsTimeoutMs = 5000;

/** close()'s wait for every thread's 'closed' (a thread normally takes one turn of its event loop). */
export const kCloseTimeoutMs = 15_000;

export interface FrontendGroupOptions {
  /** Frontend threads (>= 1). */
  count: number;
  /** Thread `index`'s start-up data, less what the group fills in (its port, index and the count). */
  initOf(index: number): Omit<FrontendInit, 'port' | 'frontendIndex' | 'frontendCount'>;
  /** How long a stats refresh waits for the threads (a late one counts with its previous numbers); default kStatsTimeoutMs. */
  statsTimeoutMs?: number;
  /** How long a thread may take to listen at start. */
  listenTimeoutMs?: number;
  /** How long close() waits for the threads to answer their pending queries and stop; default kCloseTimeoutMs. */
  closeTimeoutMs?: number;
  /** How threads start (tests pass a fake); default frontend_worker.js on piscina. */
  starter?: ThreadStarter<FrontendInit>;
  /** How a failed thread's reply rings are drained (tests pass a fake); default group_member.ts drainRings. */
  drainRings?: (rings: FrontendRings) => RingDrain;
}

/** The threads by state, for the clipper_frontend_threads gauge. */
export interface FrontendThreadStates {
  /** Serving. */
  alive: number;
  /** Failed (and ended, or about to): the others serve its share. */
  failed: number;
}

export interface FrontendGroupPorts {
  /** The main thread's SelectionHub: feedback and users' probabilities go through it. */
  selection: Pick<SelectionHub, 'feedbackFor' | 'requestUser' | 'onUserProbs' | 'descriptors'>;
  /** GET /metrics in a thread: the text of the main thread's Metrics (which refreshes the merged counters first). */
  metricsText(format: string | undefined): Promise<{ contentType: string; body: string }>;
  metricsJson(): Promise<string>;
  /** The model actors' stats (BatchingPool.stats), for OIP's model statistics. */
  actorStats(): Promise<ModelActorStats[]>;
  log(line: string): void;
}

export class FrontendGroup implements QueryStatsSource {
  /** Deployments' cache switch: posted to every thread. */
  readonly cache: BroadcastCache;
  readonly #o: FrontendGroupOptions;
  readonly #ports: FrontendGroupPorts;
  readonly #starter: ThreadStarter<FrontendInit>;
  readonly #members: Member[] = [];
  readonly #stats: StatsPull;
  #port = -1;
  /** accept 'acceptor': main's app that hands connections to the threads. */
  #acceptor: Acceptor | null = null;
  /** Failed threads' reply rings, drained until close. */
  readonly #drains: RingDrain[] = [];
  #closing: Promise<void> | null = null;

  constructor(options: FrontendGroupOptions, ports: FrontendGroupPorts) {
    if (!(Number.isInteger(options.count) && options.count >= 1)) throw new RangeError('a frontend group needs at least one thread');
    this.#o = options;
    this.#ports = ports;
    this.#starter = options.starter ?? threadStarter<FrontendInit>(kFrontendWorkerPath);
    this.#stats = new StatsPull(options.count, options.statsTimeoutMs ?? kStatsTimeoutMs);
    // The ports exist before the threads: what is posted before a thread starts waits in its port.
    for (let index = 0; index < options.count; index++) {
      const member = newMember(index);
      member.port.on('message', (event: FrontendEvent) => this.#onEvent(member, event));
      this.#members.push(member);
    }
    this.cache = new BroadcastCache((msg) => this.#broadcast(msg));
    ports.selection.onUserProbs((app, generation, uid, probs) =>
      this.#broadcast({ kind: 'user_probs', app, generation, uid, probs: [...probs] }),
    );
  }

  /** The shared query port (-1 before start). */
  get port(): number {
    return this.#port;
  }

  get threadCount(): number {
    return this.#members.length;
  }

  /** Starts the threads and resolves with the query port once every thread (or the acceptor) listens. */
  async start(): Promise<number> {
    const first = this.#o.initOf(0);
    const l0 = await this.#launch(this.#members[0]!, first);
    const shared = first.server.accept === 'reuseport' ? l0.port : first.server.port;
    const rest = this.#members.slice(1).map((m) => {
      const init = this.#o.initOf(m.index);
      return this.#launch(m, { ...init, server: { ...init.server, port: shared } });
    });
    await Promise.all(rest);
    if (this.#closing !== null) throw new ClipperError('CLP_ERR_INTERNAL', 'the frontend threads were closed while they started');
    if (first.server.accept === 'acceptor') {
      // A thread that failed since it listened gets no connections.
      const children = this.#members.filter((m) => m.alive);
      if (children.length === 0) throw new ClipperError('CLP_ERR_INTERNAL', 'every frontend thread failed at start');
      this.#acceptor = new Acceptor(first.server.tls, children);
      this.#port = await this.#acceptor.listen(first.server.host, first.server.port);
    } else {
      this.#port = l0.port;
    }
    return this.#port;
  }

  /** The routes changed: every thread rebuilds its own from the snapshot, with the hub's selections as they are now. */
  routes(snapshot: StateSnapshot, placements: ReadonlyMap<string, Placement>): void {
    const selections = this.#ports.selection.descriptors();
    this.#broadcast({ kind: 'routes', snapshot, placements: [...placements], selections });
  }

  /** The replicas and their connection state (OIP model readiness in the threads). */
  replicas(replicas: ReplicaStatus[]): void {
    this.#broadcast({ kind: 'replicas', replicas });
  }

  /** An app was deleted: its counters go, in every thread and in the merged stats. */
  forgetApp(app: string): void {
    this.#stats.forgetApp(app);
    this.#broadcast({ kind: 'forget_app', app });
  }

  /** How many threads serve, and how many failed. */
  threadStates(): FrontendThreadStates {
    let alive = 0;
    let failed = 0;
    for (const m of this.#members) {
      if (m.failed) failed++;
      else if (m.alive) alive++;
    }
    return { alive, failed };
  }

  /** Tests only: thread `index` throws `reason` from a handler, as a bug would (messages.ts 'fail'). */
  failThreadForTest(index: number, reason: string): void {
    this.#members[index]?.port.postMessage({ kind: 'fail', reason } satisfies FrontendControl);
  }

  /** Thread `index`'s counters as of the last refresh (null: it has not answered yet). */
  threadStats(index: number): FrontendStats | null {
    return this.#stats.merged.lastOf(index);
  }

  // QueryStatsSource: the sum of every thread's counters as of the last refresh().

  get counters(): Readonly<QueryCounters> {
    return this.#stats.merged.counters;
  }

  get pendingCount(): number {
    return this.#stats.merged.pendingCount;
  }

  cacheStats(): PredictionCacheStats {
    return this.#stats.merged.cache;
  }

  allAppStats(): ReadonlyMap<string, AppStats> {
    return this.#stats.merged.apps;
  }

  appStats(name: string): AppStats {
    return this.#stats.merged.apps.get(name) ?? newAppStats();
  }

  pipelineStats(app: string): AppPipelineStats | undefined {
    return this.#stats.merged.pipelines.get(app);
  }

  allPipelineStats(): ReadonlyMap<string, AppPipelineStats> {
    return this.#stats.merged.pipelines;
  }

  /** Asks every running thread for its counters; settles when all answered or after statsTimeoutMs, then adds them up. */
  refresh(): Promise<void> {
    if (this.#closing !== null) return Promise.resolve();
    return this.#stats.refresh(this.#members.filter((m) => m.alive));
  }

  /** Stops accepting, has every thread close (its pending queries answered) and ends the threads. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Before 'close': a thread's app goes away after it, and the acceptor must not hand it a connection then.
    this.#acceptor?.stop();
    const started = this.#members.filter((m) => m.task !== null);
    for (const m of started) m.port.postMessage({ kind: 'close' } satisfies FrontendControl);
    const timeoutMs = this.#o.closeTimeoutMs ?? kCloseTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(started.map((m) => m.closed.promise)), timeout]);
    clearTimeout(timer);
    // Ending a thread whose uWS app still has sockets aborts the whole process (uWS's native handles
    // outlive the thread's event loop), so a thread is ended only once it has closed its app (posted
    // 'closed', or its task ended). One that has not by now is left running and ended when it does:
    // the rest of the shutdown goes on (the store, the replicas), and at worst the process waits for
    // it or its own exit takes it, rather than aborting now with all that half done.
    const late = started.filter((m) => !m.ended);
    for (const m of late) {
      this.#ports.log(`frontend thread ${m.index} did not close within ${timeoutMs} ms: it is ended once it has closed its server`);
      m.closed.promise.then(() => this.#endThread(m)).catch(() => undefined);
    }
    await Promise.allSettled(started.filter((m) => m.ended).map((m) => this.#endThread(m)));
    for (const m of this.#members) if (m.task === null) this.#closePorts(m);
    this.#stats.settleAll();
    this.#acceptor?.close();
    // No frontend submits any more; what the workers still answer a failed thread's queries (it
    // answered them itself when it failed) waits in its ring or the worker's backlog until the pool stops.
    for (const drain of this.#drains.splice(0)) drain.close();
  }

  /** Ends a thread that has closed its app (or whose task ended), and closes its port. */
  async #endThread(m: Member): Promise<void> {
    try {
      await m.task!.destroy();
    } finally {
      this.#closePorts(m);
    }
  }

  #closePorts(m: Member): void {
    m.port.close();
    m.threadPort.close();
  }

  /**
   * The thread failed (its 'failing', or its task failed on its own): it gets no more connections and
   * no more messages but 'close', which it waits for to close its app; stats no longer wait for it.
   */
  #onFailing(member: Member, error: string): void {
    if (member.failed || this.#closing !== null) return;
    member.failed = true;
    member.alive = false;
    const detached = this.#acceptor?.detach(member) === true ? ' (the acceptor no longer hands it connections)' : '';
    this.#ports.log(`frontend thread ${member.index} failed${detached}: ${error}`);
    member.port.postMessage({ kind: 'close' } satisfies FrontendControl);
    this.#stats.skip(member.index);
  }

  /**
   * The thread has closed its app and its ring port: it posted 'closed', or its task ended (`err`:
   * how it failed). One that ends while the group is not closing failed: its reply rings are drained
   * from now on (it no longer reads them). One that never listened sent no query: nothing to drain.
   */
  #onEnded(member: Member, err: Error | null): void {
    const wasEnded = member.ended;
    markEnded(member);
    if (this.#closing !== null || !member.listened) return;
    this.#onFailing(member, err?.message ?? 'it ended on its own');
    if (wasEnded || member.rings === null) return;
    this.#drains.push((this.#o.drainRings ?? drainRings)(member.rings));
  }

  /** Starts one thread; resolves when it listens (rejects if it fails or takes longer than listenTimeoutMs). */
  async #launch(
    member: Member,
    init: Omit<FrontendInit, 'port' | 'frontendIndex' | 'frontendCount'>,
  ): Promise<{ port: number; descriptor: unknown }> {
    const full: FrontendInit = { ...init, frontendIndex: member.index, frontendCount: this.#members.length, port: member.threadPort };
    const task = this.#starter.start(full, [member.threadPort]);
    member.task = task;
    member.rings = init.rings;
    member.alive = true;
    task.done.then(
      () => this.#onEnded(member, null),
      (err: Error) => {
        member.listening.reject(err); // before markEnded's own reason: start() reports this error
        this.#onEnded(member, err);
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = this.#o.listenTimeoutMs ?? 30_000;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ClipperError('CLP_ERR_INTERNAL', `frontend thread ${member.index} did not listen within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([member.listening.promise, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  #broadcast(msg: FrontendControl): void {
    if (this.#closing !== null) return;
    // Not to a failed thread: it serves nothing any more (and waits for 'close' alone).
    for (const m of this.#members) if (!m.failed) m.port.postMessage(msg);
  }

  #onEvent(member: Member, event: FrontendEvent): void {
    switch (event.kind) {
      case 'listening':
        member.listened = true;
        member.descriptor = event.descriptor;
        member.listening.resolve({ port: event.port, descriptor: event.descriptor });
        return;
      case 'feedback': {
        const { requestId } = event;
        this.#ports.selection.feedbackFor(event.app, event.generation, event.uid, event.losses, event.chosen).then(
          () => member.port.postMessage({ kind: 'feedback_done', requestId, error: null } satisfies FrontendControl),
          (err: unknown) =>
            member.port.postMessage({ kind: 'feedback_done', requestId, error: toWireError(err) } satisfies FrontendControl),
        );
        return;
      }
      case 'user_probs_request':
        this.#ports.selection.requestUser(event.app, event.generation, event.uid);
        return;
      case 'stats':
        this.#stats.onStats(member.index, event.requestId, event.stats);
        return;
      case 'ask':
        this.#answer(member, event.requestId, event.what, event.format);
        return;
      case 'failing':
        this.#onFailing(member, event.error);
        return;
      case 'closed':
        this.#onEnded(member, null);
        return;
    }
  }

  #answer(member: Member, requestId: number, what: Extract<FrontendEvent, { kind: 'ask' }>['what'], format: string | undefined): void {
    const value: Promise<unknown> =
      what === 'metrics_text'
        ? this.#ports.metricsText(format)
        : what === 'metrics_json'
          ? this.#ports.metricsJson()
          : this.#ports.actorStats();
    value.then(
      (v) => member.port.postMessage({ kind: 'answer', requestId, value: v, error: null } satisfies FrontendControl),
      (err: unknown) =>
        member.port.postMessage({ kind: 'answer', requestId, value: null, error: toWireError(err) } satisfies FrontendControl),
    );
  }
}
