// A frontend thread (config frontendThreads ≥ 2): its task, started by batching/threads.ts
// startThreadTask, runs for the thread's life. It serves queries as the main thread does with one
// frontend: a whole query server (REST, /metrics, WebSocket stream, OIP: frontend/frontend_server.ts)
// over its own query core (thread_query_core.ts: ring port to every batching worker, processor,
// cache, deadline watch, routes, selection). Main sends configuration and asks for counters over one
// MessagePort (messages.ts); queries never use it.
//
// Port sharing (FrontendInit.server.accept): 'reuseport': the thread listens on the shared port
// itself; 'acceptor': it does not listen, and reports its app's descriptor for main's acceptor app
// to hand it connections (uWS addChildAppDescriptor). Main must remove that descriptor
// (removeChildAppDescriptor) before it sends 'close': the thread's app goes away after it.
//
// Close: stop listening, close the stream connections, answer every open query with the shutdown
// default (processor.close), fail waiting feedback and asks, close the connections and the ring
// port, post 'closed'; the task then returns.
//
// Failure (a bug escaped a handler: uncaughtException): the thread stops serving as at close (routes
// cleared, stream connections closed, open queries answered with the shutdown default) but keeps its
// uWS app open and posts 'failing'. Its app must outlive main's acceptor handing it connections: a
// connection handed to an app that is gone crashes the whole process. Main takes it out of the
// acceptor's turn, then answers 'close'; only then does the thread close its app and ring port, post
// 'closed' and exit, which fails its task (frontend_group.ts then drains its reply rings).

import type { TemplatedApp } from 'uWebSockets.js';
import type { ReplicaStatus } from '../admin/admin_context.js';
import { ClipperError } from '../errors.js';
import { startFrontendServer, type FrontendServer } from '../frontend/frontend_server.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { MainAsks } from './main_asks.js';
import type { FrontendControl, FrontendEvent, FrontendInit } from './messages.js';
import { applyCoreControl, buildThreadQueryCore, threadStats, type ThreadQueryCore } from './thread_query_core.js';

/** uws-pack 20.0.8's typings lack it; its native binding has it (checked before use). */
interface DescribedApp extends TemplatedApp {
  getDescriptor?: () => unknown;
}

/**
 * How long a failed thread waits for main's 'close' before it closes its app anyway. Main answers
 * within a turn of its event loop; one that has not in this long is blocked or gone, and a thread
 * that waited for ever would hold its clients' connections open with nothing behind them.
 */
export const kFailCloseWaitMs = 10_000;

export default function hostFrontendThread(init: FrontendInit): Promise<void> {
  return new FrontendThread(init, systemClock).run();
}

/** This thread's app's descriptor, for main's acceptor app. */
function descriptorOf(app: TemplatedApp): unknown {
  const described = app as DescribedApp;
  if (typeof described.getDescriptor !== 'function') {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      "config.frontendAccept 'acceptor' needs uWebSockets.js's getDescriptor, which this build lacks",
      {
        option: 'frontendAccept',
      },
    );
  }
  return described.getDescriptor();
}

class FrontendThread {
  readonly #init: FrontendInit;
  readonly #core: ThreadQueryCore;
  readonly #asks: MainAsks;
  readonly #post: (event: FrontendEvent) => void;
  #server: FrontendServer | null = null;
  /** For OIP model readiness: the last 'replicas' message. */
  #replicas: readonly ReplicaStatus[] = [];
  /** OIP readiness: a first 'routes' came (the state is loaded) and no 'close'. */
  #routesLoaded = false;
  #closeAsked = false;
  #closed = false;
  /** A bug escaped a handler: it serves nothing and waits for main's 'close' (or kFailCloseWaitMs). */
  #failing = false;
  #failTimer: NodeJS.Timeout | null = null;
  #markDone: () => void = () => undefined;

  constructor(init: FrontendInit, clock: Clock) {
    this.#init = init;
    this.#post = (event) => init.port.postMessage(event);
    this.#core = buildThreadQueryCore(init, clock, this.#post);
    this.#asks = new MainAsks(this.#post, clock);
  }

  async run(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      this.#markDone = resolve;
    });
    // Configuration that comes while the server starts is applied at once.
    this.#init.port.on('message', (msg: FrontendControl) => this.#onControl(msg));
    this.#core.ringPort.start();
    let descriptor: unknown = null;
    try {
      this.#server = await this.#startServer();
      if (this.#init.server.accept === 'acceptor') descriptor = descriptorOf(this.#server.app);
    } catch (err) {
      this.#server?.app.close();
      this.#closeCore(true);
      this.#init.port.close();
      throw err;
    }
    process.on('uncaughtException', (err) => this.#fail(err));
    if (this.#closeAsked) this.#close();
    else this.#post({ kind: 'listening', port: this.#server.port, descriptor });
    return done;
  }

  /**
   * A bug escaped a handler: stop serving, keep the app open, tell main (the header says why). A
   * failure while closing (or failing) already is only reported: that close ends the thread.
   */
  #fail(err: unknown): void {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`clipper: frontend thread ${this.#init.frontendIndex} failed: ${text}\n`);
    if (this.#closed || this.#failing) return;
    this.#failing = true;
    try {
      this.#stopServing();
      this.#closeCore(false);
    } catch (again) {
      // Reported, not thrown: a throw from this handler would end the thread with its app open.
      process.stderr.write(`clipper: frontend thread ${this.#init.frontendIndex}: stopping it failed too: ${String(again)}\n`);
    }
    this.#post({ kind: 'failing', error: err instanceof Error ? err.message : String(err) });
    this.#failTimer = setTimeout(() => this.#endFailed(), kFailCloseWaitMs);
  }

  /**
   * Main's 'close' (or its wait ran out): close the app and the ring port, then end the thread with
   * a failure. In a later turn, like close: a connection main's acceptor handed over just before it
   * stopped reaches this thread's loop no later than the 'close' that followed it.
   */
  #endFailed(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#failTimer !== null) clearTimeout(this.#failTimer);
    setImmediate(() => {
      try {
        this.#server?.app.close();
        this.#core.ringPort.close();
        this.#post({ kind: 'closed' });
        this.#init.port.close();
      } finally {
        process.exit(1);
      }
    });
  }

  /** Requests still arriving on open connections get a 404 or, if already routed, the default output; streams close; open queries are answered. */
  #stopServing(): void {
    this.#core.routeTable.clear();
    const server = this.#server;
    server?.close();
    try {
      server?.stream.closeAll();
    } finally {
      this.#answerOpenQueries();
    }
  }

  /** Open queries get the shutdown default rather than a closed connection; a thread that is failing may fail here too. */
  #answerOpenQueries(): void {
    try {
      this.#core.processor.close();
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      process.stderr.write(`clipper: frontend thread ${this.#init.frontendIndex}: answering its open queries failed: ${text}\n`);
    }
  }

  #startServer(): Promise<FrontendServer> {
    const { server } = this.#init;
    const core = this.#core;
    const asks = this.#asks;
    return startFrontendServer(
      {
        host: server.host,
        port: server.port,
        bodyBytesMax: server.bodyBytesMax,
        tls: server.tls,
        listen: server.accept === 'acceptor' ? 'none' : 'shared',
      },
      {
        pipeline: core.pipeline,
        metricsText: (format) => asks.metricsText(format),
        metricsJson: () => asks.metricsJson(),
        models: core.routeTable.models,
        stream: server.stream,
        ready: () => this.#routesLoaded && !this.#closed && !this.#failing,
        replicaReady: (model, version) => this.#replicas.some((r) => r.model === model && r.version === version && r.connected),
        actorStats: () => asks.actorStats(),
      },
    );
  }

  #onControl(msg: FrontendControl): void {
    if (this.#failing) {
      if (msg.kind === 'close') this.#endFailed();
      return; // it serves nothing: configuration, stats and answers have nothing to act on
    }
    try {
      switch (msg.kind) {
        case 'replicas':
          this.#replicas = msg.replicas;
          return;
        case 'stats':
          this.#post({ kind: 'stats', requestId: msg.requestId, stats: threadStats(this.#core) });
          return;
        case 'answer':
          this.#asks.onAnswer(msg.requestId, msg.value, msg.error);
          return;
        case 'close':
          this.#closeAsked = true;
          // While the server starts, run() closes once it has started.
          if (this.#server !== null) this.#close();
          return;
        case 'fail':
          setImmediate(() => {
            throw new Error(msg.reason);
          });
          return;
        default:
          if (msg.kind === 'routes') this.#routesLoaded = true;
          applyCoreControl(this.#core, msg);
      }
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      process.stderr.write(`clipper: frontend thread ${this.#init.frontendIndex}: '${msg.kind}' failed: ${text}\n`);
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const server = this.#server;
    try {
      this.#stopServing();
    } finally {
      // The answers just written go out in this turn of the event loop; then the connections close,
      // whatever failed above: main ends this thread only once it has posted 'closed' (frontend_group.ts).
      setImmediate(() => {
        server?.app.close();
        try {
          this.#closeCore(true);
        } finally {
          this.#post({ kind: 'closed' });
          this.#init.port.close();
          this.#markDone();
        }
      });
    }
  }

  /** Fail what waits for main; `rings`: also stop draining the reply rings (a failed thread drains them until it ends). */
  #closeCore(rings: boolean): void {
    this.#core.selection.close();
    this.#asks.close();
    if (rings) this.#core.ringPort.close();
  }
}
