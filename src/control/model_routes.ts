// Routes that address a model directly by name (the Open Inference Protocol's /v2/models/{m}),
// beside the app routes: one synthetic AppRoute per model name, so the query pipeline serves both
// alike. A model has no app, so its route has no app SLO (its deadline is the request's `timeout`,
// else config oipTimeoutMsDefault), no default output (a protocol without default outputs turns a
// default answer into an error) and no selection policy; an overloaded queue answers as shed.

import type { Placement } from '../batching/protocol.js';
import { inputTypeCode } from '../input_types.js';
import { newAppStats, type AppRoute, type AppStats } from '../query/app_route.js';
import type { ModelRecord, StateSnapshot } from '../state/records.js';

/** One registered version of a model, as a protocol's metadata endpoint describes it. */
export interface ModelVersionInfo {
  readonly version: string;
  /** The version's record (its input type, runtime and declared tensors). */
  readonly record: Readonly<ModelRecord>;
  /** Where its queries go; null while it has no placement (not deployed here). */
  readonly placement: Placement | null;
}

/** A model's route: the AppRoute the pipeline takes, plus every registered version's record. */
export interface ModelRoute extends AppRoute {
  /** The current version, or null when the model has none. */
  readonly currentVersion: string | null;
  /** Every registered version by name, in registration order. */
  readonly infos: ReadonlyMap<string, ModelVersionInfo>;
}

/**
 * Every model's route from the snapshot and the placements (by modelKey). The route takes the input
 * type of its current version (of its last registered version when none is current); `stats` are
 * the model's counters, kept by the caller across rebuilds.
 */
export function buildModelRoutes(
  snapshot: StateSnapshot,
  placements: ReadonlyMap<string, Placement>,
  sloMs: number,
  statsOf: (model: string) => AppStats,
): Map<string, ModelRoute> {
  const byName = new Map<string, Map<string, ModelVersionInfo>>();
  for (const [key, record] of snapshot.models) {
    let infos = byName.get(record.model_name);
    if (infos === undefined) {
      infos = new Map();
      byName.set(record.model_name, infos);
    }
    infos.set(record.model_version, { version: record.model_version, record, placement: placements.get(key) ?? null });
  }
  const routes = new Map<string, ModelRoute>();
  for (const [name, infos] of byName) {
    routes.set(name, modelRoute(name, infos, snapshot.currentVersions.get(name) ?? null, sloMs, statsOf(name)));
  }
  return routes;
}

function modelRoute(
  name: string,
  infos: ReadonlyMap<string, ModelVersionInfo>,
  currentVersion: string | null,
  sloMs: number,
  stats: AppStats,
): ModelRoute {
  const versions = new Map<string, Placement>();
  let last: ModelVersionInfo | undefined;
  for (const info of infos.values()) {
    if (info.placement !== null) versions.set(info.version, info.placement);
    last = info;
  }
  const current = currentVersion === null ? undefined : infos.get(currentVersion);
  const inputType = (current ?? last)!.record.input_type;
  return {
    name,
    stats,
    inputType,
    typeCode: inputTypeCode(inputType),
    defaultJson: 'null',
    sloMs,
    modelName: name,
    placement: current?.placement ?? null,
    versions,
    overloadResponse: 'status_429',
    selection: null,
    currentVersion: current === undefined ? null : currentVersion,
    infos,
  };
}

/** Per-model counters that outlive rebuilds; a model gone from the snapshot loses its own. */
export class ModelStatsKeeper {
  readonly #stats = new Map<string, AppStats>();

  of(name: string): AppStats {
    let stats = this.#stats.get(name);
    if (stats === undefined) {
      stats = newAppStats();
      this.#stats.set(name, stats);
    }
    return stats;
  }

  /** Forget the counters of models not in `names`. */
  keepOnly(names: ReadonlyMap<string, unknown>): void {
    for (const name of [...this.#stats.keys()]) if (!names.has(name)) this.#stats.delete(name);
  }
}
