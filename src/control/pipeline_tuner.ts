// Reactive tuning of planned pipelines (InferLine's second half; docs/pipelines.md "Reactive tuning").
// A plan that `clipper plan` stored with `reactive: true` names the range of arrival rates its replica
// counts were sized for (envelope_qps). Every tick this frontend reads each such app's query counter
// (arrival_rate.ts); when the rate stays outside that range, on one side, for kTicksOutside ticks in a
// row, each model of the plan gets the replicas the planner's capacity model gives for the new rate
// (planner/capacity.ts: replicasForRate, bounded by the plan's replicas_max), and the plan is stored
// again with the envelope around the new rate, so the next change needs the rate to leave that.
//
// "Outside" means both the moving average and the last tick's own rate are outside: the average
// keeps a noisy tick from counting, the tick's rate keeps a spike that has already passed (but still
// lifts the average) from counting twice. The change is sized for the mean rate over the ticks that
// were outside, not for the average, which lags a step by about a window. An app nobody has queried
// since the tuner started following it is left as planned (a plan applied before its load arrives is
// not scaled down to nothing first). One change at a time per app; writes go through ports (the
// cluster wires them to the admin API's set_num_replicas and set_pipeline_plan, so the state store
// carries them to every frontend's Deployments), one at a time, each only while the app's stored plan
// is still the one the change was sized from (`clipper plan --apply` clears it before its own writes).
// A model another app also calls (another pipeline, or a plain app's link) is left alone: its count
// serves both, and sizing it from one app's rate would undo what the other needs.

import type { Clock } from '../lib/clock.js';
import { pipelineModels, type PipelinePlan } from '../pipeline_spec.js';
import { envelopeFor, replicasForRate } from '../planner/capacity.js';
import { modelKey, type ModelRecord, type StateSnapshot } from '../state/records.js';
import { ArrivalRate, type RateReading } from './arrival_rate.js';

export interface PipelineTunerPorts {
  /** Every app with a stored plan (reactive or not), by app name, as the state store has them now. */
  plannedApps(): ReadonlyMap<string, PipelinePlan>;
  /** The app's query counter on this frontend (AppStats.queries; 0 when it has none yet). */
  queryCount(app: string): number;
  /** Brings the query counters up to date before a tick reads them (frontend threads: query/query_stats_source.ts); absent: always current. */
  refreshCounts?(): Promise<void>;
  /** Another app that calls the model (a pipeline stage, or a link) besides `app`; undefined when none does. */
  otherUser(app: string, model: string): string | undefined;
  /** The replica count of the model's current version; undefined when it has no current version. */
  replicasOf(model: string): number | undefined;
  /** Sets the replica count of the model's current version; settles once the change is applied. */
  setReplicas(model: string, count: number): Promise<void>;
  /** Stores the app's plan, refused unless the stored one differs from it in envelope_qps only. */
  storePlan(app: string, plan: PipelinePlan): Promise<void>;
  /** One line per change (not per tick). */
  log(line: string): void;
}

export interface PipelineTunerOptions {
  /** Time between ticks; 0: the tuner never ticks by itself. */
  intervalMs: number;
  /** Time constant of the arrival-rate average. */
  windowMs: number;
  clock: Clock;
}

/** Consecutive ticks the rate must stay outside the envelope, on one side, before the tuner acts. */
export const kTicksOutside = 2;

type Side = 'above' | 'below';

interface Move {
  model: string;
  from: number;
  to: number;
}

interface AppState {
  readonly rate: ArrivalRate;
  planKey: string;
  /** A query has arrived since the tuner began following the app. */
  armed: boolean;
  streak: { side: Side; ticks: number; queries: number; elapsedMs: number } | null;
  /** A change is being applied. */
  busy: boolean;
  /** After a failed change, none is tried again before this time. */
  retryAtMs: number;
}

/** What identifies a plan for the tuner (not its workload trace or profiles, which can be long). */
export function planKeyOf(plan: PipelinePlan): string {
  return JSON.stringify([
    plan.seed,
    plan.slo_micros,
    plan.envelope_qps,
    plan.replicas_max,
    plan.reactive,
    plan.workload.kind,
    plan.workload.rate_qps,
    plan.models.map((m) => [m.model, m.version, m.batch_size, m.replicas, m.visit_fraction, m.capacity_qps_per_replica]),
  ]);
}

function sideOf(reading: RateReading, [lowQps, highQps]: readonly [number, number]): Side | null {
  if (reading.ewmaQps > highQps && reading.tickQps > highQps) return 'above';
  if (reading.ewmaQps < lowQps && reading.tickQps < lowQps) return 'below';
  return null;
}

function qpsText(qps: number): string {
  return qps >= 100 ? qps.toFixed(0) : qps.toFixed(1);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class PipelineTuner {
  readonly #o: PipelineTunerOptions;
  readonly #ports: PipelineTunerPorts;
  readonly #apps = new Map<string, AppState>();
  /** "app\nmodel" of the models already logged as left alone because another app uses them. */
  readonly #sharedLogged = new Set<string>();
  #timer: unknown = null;
  #stopped = false;

  constructor(options: PipelineTunerOptions, ports: PipelineTunerPorts) {
    this.#o = options;
    this.#ports = ports;
  }

  /** Ticks every intervalMs until stop() (nothing when intervalMs is 0). */
  start(): void {
    if (this.#o.intervalMs > 0 && !this.#stopped) this.#schedule();
  }

  /** No more ticks; changes in flight finish their writes but store no envelope and log nothing. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.#timer = null;
  }

  /** Apps followed now (reactive plans seen at the last tick). */
  get followed(): ReadonlySet<string> {
    return new Set(this.#apps.keys());
  }

  /** One tick: read every reactive app's rate, and start the changes it calls for; settles when they are done. */
  async tick(): Promise<void> {
    if (this.#stopped) return;
    await this.#ports.refreshCounts?.();
    if (this.#stopped) return;
    const nowMs = this.#o.clock.nowMs();
    const plans = this.#ports.plannedApps();
    for (const name of this.#apps.keys()) {
      if (plans.get(name)?.reactive !== true) this.#forget(name); // deleted, or no longer reactive
    }
    const changes: Promise<void>[] = [];
    for (const [name, plan] of plans) {
      if (!plan.reactive) continue;
      const rateQps = this.#observe(name, plan, nowMs);
      if (rateQps !== null) changes.push(this.#change(name, plan, rateQps, nowMs));
    }
    await Promise.all(changes);
  }

  #schedule(): void {
    this.#timer = this.#o.clock.setTimer(this.#o.intervalMs, () => {
      if (this.#stopped) return;
      this.#schedule();
      this.tick().catch((err: unknown) => this.#ports.log(`pipeline tuner: tick failed: ${errorText(err)}`));
    });
  }

  /** Reads the app's rate; returns the rate to act on when it has been outside the envelope long enough. */
  #observe(name: string, plan: PipelinePlan, nowMs: number): number | null {
    const key = planKeyOf(plan);
    let state = this.#apps.get(name);
    if (state === undefined) {
      state = { rate: new ArrivalRate(this.#o.windowMs), planKey: key, armed: false, streak: null, busy: false, retryAtMs: 0 };
      this.#apps.set(name, state);
    } else if (state.planKey !== key) {
      state.planKey = key; // re-planned: a new envelope, counted afresh
      state.streak = null;
    }
    const reading = state.rate.read(this.#ports.queryCount(name), nowMs);
    if (reading === null) return null;
    if (reading.queries > 0) state.armed = true;
    const side = state.armed && !state.busy && nowMs >= state.retryAtMs ? sideOf(reading, plan.envelope_qps) : null;
    if (side === null) {
      state.streak = null;
      return null;
    }
    const streak = state.streak;
    if (streak === null || streak.side !== side) {
      state.streak = { side, ticks: 1, queries: reading.queries, elapsedMs: reading.elapsedMs };
    } else {
      streak.ticks++;
      streak.queries += reading.queries;
      streak.elapsedMs += reading.elapsedMs;
    }
    const { ticks, queries, elapsedMs } = state.streak!;
    if (ticks < kTicksOutside) return null;
    const rateQps = (queries * 1000) / elapsedMs;
    state.streak = null;
    state.rate.restartAt(rateQps);
    return rateQps;
  }

  #forget(name: string): void {
    this.#apps.delete(name);
    for (const key of this.#sharedLogged) if (key.startsWith(`${name}\n`)) this.#sharedLogged.delete(key);
  }

  /** Sets the replicas the plan gives for `rateQps` (only the counts that change), then stores the new envelope. */
  async #change(name: string, plan: PipelinePlan, rateQps: number, nowMs: number): Promise<void> {
    const state = this.#apps.get(name)!;
    state.busy = true;
    try {
      const { moves, missing } = this.#movesFor(name, plan, rateQps);
      const { failed, stoppedBy } = await this.#write(name, plan, moves);
      if (this.#stopped) return;
      const [low, high] = plan.envelope_qps;
      let line =
        `pipeline tuner: app '${name}' at ${qpsText(rateQps)} qps, outside its envelope ${qpsText(low)}–${qpsText(high)}: ` +
        (moves.length === 0 ? 'replicas unchanged' : moves.map((mv) => `${mv.model} ${mv.from}→${mv.to}`).join(', '));
      if (missing.length > 0) line += `; no current version of ${missing.join(', ')}`;
      if (stoppedBy !== null) {
        this.#ports.log(`${line}; ${stoppedBy}: the remaining writes were dropped`);
        return;
      }
      if (failed.length > 0) {
        state.retryAtMs = nowMs + this.#o.windowMs;
        this.#ports.log(`${line}; failed: ${failed.join('; ')}; the envelope is kept and the change tried again`);
        return;
      }
      this.#ports.log(`${line}; ${await this.#storeEnvelope(name, plan, rateQps, state)}`);
    } finally {
      state.busy = false;
    }
  }

  /** The counts that change for `rateQps`, but of models another app also uses (left alone, logged once). */
  #movesFor(name: string, plan: PipelinePlan, rateQps: number): { moves: Move[]; missing: string[] } {
    const targets = replicasForRate(plan, rateQps);
    const moves: Move[] = [];
    const missing: string[] = [];
    for (const m of plan.models) {
      const other = this.#ports.otherUser(name, m.model);
      if (other !== undefined) {
        this.#logShared(name, m.model, other);
        continue;
      }
      const from = this.#ports.replicasOf(m.model);
      if (from === undefined) {
        missing.push(m.model);
        continue;
      }
      // The capacity model bounds its answer; bounding again keeps replicas_max whatever it returns.
      const to = Math.min(plan.replicas_max, Math.max(1, Math.round(targets.get(m.model) ?? m.replicas)));
      if (to !== from) moves.push({ model: m.model, from, to });
    }
    return { moves, missing };
  }

  #logShared(name: string, model: string, other: string): void {
    const key = `${name}\n${model}`;
    if (this.#sharedLogged.has(key)) return;
    this.#sharedLogged.add(key);
    this.#ports.log(
      `pipeline tuner: app '${name}' leaves the replicas of model '${model}' alone: application '${other}' also uses it ` +
        '(the tuner sizes only models no other app calls)',
    );
  }

  /**
   * The writes, one at a time, each only while the app's stored plan is still `plan` (not deleted,
   * cleared or re-planned, e.g. by `clipper plan --apply`, since the change was sized). A failed write
   * does not stop the others. `stoppedBy`: why the writes stopped early, or null.
   */
  async #write(name: string, plan: PipelinePlan, moves: readonly Move[]): Promise<{ failed: string[]; stoppedBy: string | null }> {
    const key = planKeyOf(plan);
    const failed: string[] = [];
    for (const [i, mv] of moves.entries()) {
      if (this.#stopped) break;
      const current = this.#ports.plannedApps().get(name);
      if (current === undefined || planKeyOf(current) !== key) {
        const what = current === undefined ? 'the app was deleted meanwhile (or its plan cleared)' : 'the app was re-planned meanwhile';
        return { failed, stoppedBy: `${what} after ${i} of ${moves.length} write(s)` };
      }
      try {
        await this.#ports.setReplicas(mv.model, mv.to);
      } catch (err) {
        failed.push(`${mv.model}: ${errorText(err)}`);
      }
    }
    return { failed, stoppedBy: null };
  }

  /** Stores the plan with the envelope around `rateQps`, unless the app was deleted or re-planned meanwhile. */
  async #storeEnvelope(name: string, plan: PipelinePlan, rateQps: number, state: AppState): Promise<string> {
    const current = this.#ports.plannedApps().get(name);
    if (current === undefined) return 'the app was deleted meanwhile (or its plan cleared)';
    if (planKeyOf(current) !== planKeyOf(plan)) return 'the app was re-planned meanwhile: its new plan stands';
    const envelope = envelopeFor(rateQps);
    const next: PipelinePlan = { ...current, envelope_qps: envelope };
    try {
      await this.#ports.storePlan(name, next);
    } catch (err) {
      state.retryAtMs = this.#o.clock.nowMs() + this.#o.windowMs;
      return `storing the new envelope failed (${errorText(err)})`;
    }
    state.planKey = planKeyOf(next);
    return `envelope now ${qpsText(envelope[0])}–${qpsText(envelope[1])} qps`;
  }
}

/** What adminTunerPorts needs of the cluster. */
export interface TunerSources {
  snapshot(): StateSnapshot;
  queryCount(app: string): number;
  refreshCounts?(): Promise<void>;
  /** Runs a management API route (admin/admin_service.ts, handle): the reply's status and body. */
  admin(route: string, body: unknown): Promise<{ status: number; body: string }>;
  log(line: string): void;
}

/**
 * The ports as the cluster wires them: plans and replica counts from the state snapshot, writes
 * through the management API's own set_num_replicas (the model's current version) and
 * set_pipeline_plan handlers, so they are checked and applied as an operator's would be.
 */
export function adminTunerPorts(sources: TunerSources): PipelineTunerPorts {
  const call = async (route: string, body: unknown): Promise<void> => {
    const reply = await sources.admin(route, body);
    if (reply.status >= 300) throw new Error(`${route} answered ${reply.status}: ${reply.body}`);
  };
  const currentOf = (model: string): ModelRecord | undefined => {
    const snapshot = sources.snapshot();
    const version = snapshot.currentVersions.get(model);
    return version === undefined ? undefined : snapshot.models.get(modelKey(model, version));
  };
  return {
    plannedApps: () => {
      const plans = new Map<string, PipelinePlan>();
      for (const app of sources.snapshot().apps.values()) if (app.pipeline_plan !== undefined) plans.set(app.name, app.pipeline_plan);
      return plans;
    },
    queryCount: (app) => sources.queryCount(app),
    ...(sources.refreshCounts === undefined ? {} : { refreshCounts: () => sources.refreshCounts!() }),
    otherUser: (app, model) => {
      for (const other of sources.snapshot().apps.values()) {
        if (other.name === app) continue;
        if (other.linked_models.includes(model) || (other.pipeline !== undefined && pipelineModels(other.pipeline).includes(model))) {
          return other.name;
        }
      }
      return undefined;
    },
    replicasOf: (model) => currentOf(model)?.num_replicas,
    setReplicas: async (model, count) => {
      const record = currentOf(model);
      if (record === undefined) throw new Error(`model '${model}' has no current version`);
      await call('set_num_replicas', { model_name: model, model_version: record.model_version, num_replicas: count });
    },
    // envelope_only: refused when the stored plan changed meanwhile in more than its envelope (admin_pipelines.ts).
    storePlan: (app, plan) => call('set_pipeline_plan', { name: app, plan, envelope_only: true }),
    log: (line) => sources.log(line),
  };
}
