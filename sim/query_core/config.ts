// The shape of one query-core simulation run (scenarios.ts names a few).

import type { ArrivalSpec } from '../arrivals.js';
import type { SimFaults, SimModelSpec } from './sim_pool.js';

export interface SimApp {
  readonly name: string;
  readonly sloMs: number;
  /** Index into CoreSimConfig.models, or null: no model is deployed (answered with the default). */
  readonly model: number | null;
  readonly input: 'integers' | 'strings' | 'bytes';
}

export interface CoreSimConfig {
  /** The scenario's name (printed with the seed when a run fails, to replay it). */
  name: string;
  seed: number;
  /** Queries arrive until this time; the run goes on until every one is settled. */
  durationMs: number;
  arrival: ArrivalSpec;
  apps: SimApp[];
  models: SimModelSpec[];
  /** Records a simulated worker's ring holds; a query that does not fit is shed by the core. */
  ringRecordsMax: number;
  faults: SimFaults;
  /** 0 turns the prediction cache off. */
  cacheBytesMax: number;
  /** Share of queries whose input is one of `hotInputCount` inputs (cache hits, coalescing). */
  repeatShare: number;
  hotInputCount: number;
  /** Share of queries whose request SLO is not their app's (watched in the core's heap). */
  offSloShare: number;
  /** Share of queries that repeat the previous query's app and input at once (coalescing). */
  repeatLastShare: number;
  /** Share of queries the client cancels, at a uniform time within `cancelDelayMsMax` (the query
   * may be answered by then: the cancel is then a no-op). */
  cancelShare: number;
  cancelDelayMsMax: number;
  /** 1: clients call QueryProcessor.submit directly. More: they send requests of 1..n inputs
   * through the query pipeline (as the protocol codecs do), and cancel whole requests. */
  requestInputsMax: number;
  /** The core shuts down at this time; queries keep arriving and get the shutdown default. */
  closeAtMs?: number;
}
