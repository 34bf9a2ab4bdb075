// The shapes of the live dashboard, in one place: the server's snapshot stream (the contract of
// GET /dashboard/stream; the server side, src/dashboard/snapshot_builder.ts, builds these and
// src/dashboard/snapshot_types.ts re-exports them) and the chart figures the bench report hands to
// charts.ts. Types only, importing nothing: nothing here exists at run time, so the browser never
// loads this file and the server can share it.

/** One sample of the whole server, every `intervalMs` (numbers cover the last interval; null: nothing measured). */
export interface Snapshot {
  /** Milliseconds since the epoch. */
  t: number;
  intervalMs: number;
  apps: AppSnapshot[];
  models: ModelSnapshot[];
}

export interface AppSnapshot {
  name: string;
  sloMicros: number;
  policy: string;
  linkedModels: string[];
  defaultOutput: string;
  /** Answers per second (a model's answers and default outputs). */
  qps: number;
  latencyMsP50: number | null;
  latencyMsP99: number | null;
  /**
   * Answers given by a model (so within the SLO: a later one is replaced by the default output) over
   * all answers, 0..1.
   */
  sloAttainment: number | null;
  /** Share of answers that were the default output, 0..1. */
  defaultShare: number | null;
  /** Default outputs in the interval, by reason: slo, shed, no_model, model_error, replica_failed, ... */
  defaultReasons: Record<string, number>;
  /** Queries refused for overload in the interval: 429s (status_429 apps) and shed default outputs. */
  shed: number;
  /** Cache hits over cache lookups (an Exp4 app counts one lookup per linked model); null: no lookup. */
  cacheHitRatio: number | null;
  /** The selection policy's weights (sum 1) for multi-model apps, else empty. */
  selection: Array<{ model: string; weight: number }>;
}

export interface ReplicaSnapshot {
  id: number;
  host: string;
  port: number;
  state: string;
  health: string;
  connected: boolean;
  restarts: number;
}

export interface ModelSnapshot {
  name: string;
  version: string;
  current: boolean;
  /** Queries sent to the model's replicas per second. */
  qps: number;
  batchSizeMean: number | null;
  /**
   * Batches in the interval by size bucket, `le` its upper bound; the open-ended bucket above the last
   * bound comes last with `le` null, and only when it holds batches.
   */
  batchSizeHistogram: Array<{ le: number | null; count: number }>;
  /** Time a query waited in the model's queue before its batch was sent, ms. */
  queueMsMean: number | null;
  /** A batch's round trip at the replica, ms. */
  modelMsMean: number | null;
  /** model.batch_size: 'adaptive' (-1), else the fixed maximum. */
  batchMode: 'adaptive' | number;
  /** Replicas wanted. */
  numReplicas: number;
  replicas: ReplicaSnapshot[];
}

/** The first event of a stream: the server's ring of recent snapshots. */
export interface HistoryEvent {
  intervalMs: number;
  snapshots: Snapshot[];
}

/** A value per x; null leaves a gap. */
export type Column = Array<number | null>;

/** uPlot's aligned data: the x values, then one column per series. */
export type Columns = [number[], ...Column[]];

/** A static chart of the bench report: x/y series already aligned (series.ts alignPoints). */
export interface FigureSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Series names, in the order of `columns[1..]`. */
  series: string[];
  columns: Columns;
  /** Draw the y axis from 0 to 100 (shares in percent). */
  percent?: boolean;
}
