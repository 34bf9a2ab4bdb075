// A pipeline app for unit tests of the executor (src/query/stage_run.ts): a compiled graph over
// models placed on distinct fake placements, the real QueryProcessor on a fake batching pool and a
// simulated clock, and helpers to answer the sub-query written for a model.

import assert from 'node:assert/strict';
import type { Placement } from '../../src/batching/protocol.js';
import { DefaultReason, ReplyStatus } from '../../src/ipc/records.js';
import type { InputType } from '../../src/input_types.js';
import type { PipelinePlan, PipelineSpec } from '../../src/pipeline_spec.js';
import type { AppRoute } from '../../src/query/app_route.js';
import { QueryProcessor } from '../../src/query/query_processor.js';
import { compilePipeline, type CompiledPipeline } from '../../src/query/stage_graph.js';
import { PipelineRuns } from '../../src/query/pipeline_runs.js';
import { PipelineStatsKeeper } from '../../src/query/stage_stats.js';
import { guardedClock } from '../../sim/query_core/guarded_clock.js';
import { SimClock } from '../../sim/sim_clock.js';
import { FakeBatchingPort, RecordingSink, testRoute, type WrittenQuery } from './fake_batching.js';

export interface PipelineHarnessOptions {
  /** Model name → its input type (default doubles); a model listed in `undeployed` has no placement. */
  models: Record<string, InputType>;
  undeployed?: string[];
  plan?: PipelinePlan | null;
  sloMs?: number;
  cacheBytesMax?: number;
  inputType?: InputType;
}

export class PipelineHarness {
  readonly clock = new SimClock(1000);
  readonly pool = new FakeBatchingPort();
  readonly processor: QueryProcessor;
  readonly sink: RecordingSink;
  readonly route: AppRoute;
  readonly pipeline: CompiledPipeline;
  readonly keeper = new PipelineStatsKeeper();
  readonly runs = new PipelineRuns();
  readonly placements = new Map<string, Placement>();
  /** Tokens already answered through reply(). */
  readonly #replied = new Set<number>();

  constructor(spec: PipelineSpec, options: PipelineHarnessOptions) {
    this.pool.inputBytesMax = 1 << 16;
    this.processor = new QueryProcessor({
      pool: this.pool,
      clock: guardedClock(this.clock, (m) => assert.fail(m)),
      cacheBytesMax: options.cacheBytesMax ?? 0,
    });
    this.sink = new RecordingSink(this.clock);
    const inputType = options.inputType ?? 'doubles';
    this.route = testRoute({
      stats: this.processor.appStats('app'),
      sloMs: options.sloMs ?? 100,
      modelName: null,
      placement: null,
      inputType,
    });
    Object.keys(options.models).forEach((m, i) => {
      this.placements.set(m, Object.freeze({ workerIndex: 0, modelIndex: 10 + i }));
    });
    const undeployed = new Set(options.undeployed ?? []);
    this.pipeline = compilePipeline(
      spec,
      (m) => {
        const type = options.models[m];
        if (type === undefined) return null;
        return { placement: undeployed.has(m) ? null : this.placements.get(m)!, inputType: type };
      },
      options.plan ?? null,
      this.route,
      this.keeper,
    );
    this.route = { ...this.route, pipeline: this.pipeline };
  }

  /** Start one query (index 0 unless given); returns the run token or -1. */
  start(input: number[] | string | Buffer, index = 0, sloMs = this.route.sloMs): number {
    return this.runs.start(this.processor, this.route, this.pipeline, input, sloMs, 0, this.sink, index);
  }

  /** The sub-queries written for `model`, in order. */
  writtenFor(model: string): WrittenQuery[] {
    const p = this.placements.get(model)!;
    return this.pool.written.filter((q) => q.placement.modelIndex === p.modelIndex);
  }

  /** The one open (not yet replied) sub-query of `model`. */
  openFor(model: string): WrittenQuery {
    const open = this.writtenFor(model).filter((q) => !this.#replied.has(q.token));
    assert.equal(open.length, 1, `model ${model} has ${open.length} open sub-queries`);
    return open[0]!;
  }

  /** Answer `model`'s open sub-query with `output` (any JSON value) after `afterMs`. */
  reply(model: string, output: unknown, afterMs = 1): WrittenQuery {
    const q = this.openFor(model);
    this.clock.advanceBy(afterMs);
    this.#replied.add(q.token);
    this.processor.onReply(q.token, ReplyStatus.Ok, DefaultReason.None, JSON.stringify(output));
    return q;
  }

  /** `model`'s open sub-query fails with a model error. */
  fail(model: string, detail = 'boom', afterMs = 1): WrittenQuery {
    const q = this.openFor(model);
    this.clock.advanceBy(afterMs);
    this.#replied.add(q.token);
    this.processor.onReply(q.token, ReplyStatus.Default, DefaultReason.ModelError, detail);
    return q;
  }

  /** The stage's counters. */
  stage(name: string) {
    const s = this.pipeline.stats.stages.find((x) => x.name === name);
    assert.ok(s !== undefined, `no stage ${name}`);
    return s;
  }
}
