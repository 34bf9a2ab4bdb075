// The routing table the query servers read: one AppRoute per app, and one ModelRoute per model name
// (model_routes.ts: a model addressed directly, as the Open Inference Protocol does), rebuilt from
// the configuration (the state snapshot) and the placements of the deployed model versions after
// every change. The maps are mutated in place, so a server holding them always sees the latest routes.

import { outputToJson } from '../batching/output_json.js';
import { kDefaultConfig } from '../config.js';
import type { Placement } from '../batching/protocol.js';
import { inputTypeCode } from '../input_types.js';
import type { AppSelection } from '../selection/app_selection.js';
import { modelKey, type AppRecord, type StateSnapshot } from '../state/records.js';
import type { AppRoute, AppStats } from '../query/app_route.js';
import { compilePipeline, type CompiledPipeline } from '../query/stage_graph.js';
import { PipelineStatsKeeper } from '../query/stage_stats.js';
import { buildModelRoutes, ModelStatsKeeper, type ModelRoute } from './model_routes.js';

export interface RouteSources {
  /** The app's counters (they outlive route rebuilds). */
  appStats(name: string): AppStats;
  /** The selection over an app's linked models (null with fewer than two), and forgetting it. */
  selection: {
    route(app: AppRecord, placements: Array<Placement | null>): AppSelection | null;
    forget(appName: string): void;
  };
  /** The deadline (ms) of a query to a model route that sets none (default: config oipTimeoutMsDefault). */
  modelSloMs?: number;
}

export class RouteTable {
  /** App name → route; the one map the servers read. */
  readonly routes = new Map<string, AppRoute>();
  /** Model name → route, for protocols that address a model directly. */
  readonly models = new Map<string, ModelRoute>();
  readonly #modelStats = new ModelStatsKeeper();
  /** Pipeline apps' per-stage counters (they outlive rebuilds, as the apps' stats do). */
  readonly pipelineStats = new PipelineStatsKeeper();
  readonly #sources: RouteSources;
  /** Apps that have a selection, so that one gone in a resync is forgotten too. */
  readonly #selectedApps = new Set<string>();

  constructor(sources: RouteSources) {
    this.#sources = sources;
  }

  /** Every app's route from the snapshot and the placements of deployed versions (by modelKey). */
  rebuild(snapshot: StateSnapshot, placements: ReadonlyMap<string, Placement>): void {
    this.routes.clear();
    for (const name of [...this.#selectedApps]) {
      if (!snapshot.apps.has(name)) {
        this.#sources.selection.forget(name);
        this.#selectedApps.delete(name);
      }
    }
    for (const app of snapshot.apps.values()) this.routes.set(app.name, this.#routeOf(app, snapshot, placements));
    this.pipelineStats.keepOnly(new Set([...snapshot.apps.values()].filter((a) => a.pipeline !== undefined).map((a) => a.name)));
    const sloMs = this.#sources.modelSloMs ?? kDefaultConfig.oipTimeoutMsDefault;
    const models = buildModelRoutes(snapshot, placements, sloMs, (name) => this.#modelStats.of(name));
    this.models.clear();
    for (const [name, route] of models) this.models.set(name, route);
    this.#modelStats.keepOnly(models);
  }

  /** No routes: requests still arriving get a 404. */
  clear(): void {
    this.routes.clear();
    this.models.clear();
  }

  #routeOf(app: AppRecord, snapshot: StateSnapshot, placements: ReadonlyMap<string, Placement>): AppRoute {
    const modelName = app.linked_models[0] ?? null;
    const versions = new Map<string, Placement>();
    let placement: Placement | null = null;
    if (modelName !== null) {
      for (const [key, p] of placements) {
        const m = snapshot.models.get(key);
        if (m !== undefined && m.model_name === modelName) versions.set(m.model_version, p);
      }
      const current = snapshot.currentVersions.get(modelName);
      if (current !== undefined) placement = versions.get(current) ?? null;
    }
    const route: AppRoute = {
      name: app.name,
      stats: this.#sources.appStats(app.name),
      inputType: app.input_type,
      typeCode: inputTypeCode(app.input_type),
      defaultJson: outputToJson(app.default_output),
      sloMs: app.latency_slo_micros / 1000,
      modelName,
      placement,
      versions,
      overloadResponse: app.overload_response,
      selection: this.#selectionOf(app, snapshot, placements),
    };
    return app.pipeline === undefined ? route : { ...route, pipeline: this.#pipelineOf(app, route, snapshot, placements) };
  }

  /** A pipeline app's graph over its models' current versions (null if it cannot be compiled: every query gets the default output). */
  #pipelineOf(
    app: AppRecord,
    route: AppRoute,
    snapshot: StateSnapshot,
    placements: ReadonlyMap<string, Placement>,
  ): CompiledPipeline | null {
    const resolve = (name: string) => {
      const version = snapshot.currentVersions.get(name);
      const record = version === undefined ? undefined : snapshot.models.get(modelKey(name, version));
      if (record === undefined) return null;
      return { placement: placements.get(modelKey(name, record.model_version)) ?? null, inputType: record.input_type };
    };
    try {
      return compilePipeline(app.pipeline!, resolve, app.pipeline_plan ?? null, route, this.pipelineStats);
    } catch {
      return null;
    }
  }

  /** The app's selection over its linked models (their current versions' placements). */
  #selectionOf(app: AppRecord, snapshot: StateSnapshot, placements: ReadonlyMap<string, Placement>): AppSelection | null {
    const linked = app.linked_models.map((name) => {
      const version = snapshot.currentVersions.get(name);
      return version === undefined ? null : (placements.get(modelKey(name, version)) ?? null);
    });
    const sel = this.#sources.selection.route(app, linked);
    if (sel === null) this.#selectedApps.delete(app.name);
    else this.#selectedApps.add(app.name);
    return sel;
  }
}
