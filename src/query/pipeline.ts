// The request path, written once for every protocol: route lookup, version pinning, the input-size
// check, and one submit per input (pinned to a version, through the app's selection policy, or run
// through the app's pipeline of models: stage_run.ts),
// collecting the ring tokens the caller cancels if its client goes away. Feedback likewise.
//
// A protocol is a codec on top of this: it parses its request into a QueryRequest (with the route's
// input type), calls predict() with a RequestSink of its own, and encodes the answers
// (frontend/answers.ts) and errors (ClipperError) in its wire format.

import { ClipperError } from '../errors.js';
import type { QuerySink } from './answer.js';
import { pinnedPlacement, type AppRoute } from './app_route.js';
import { applyFeedback, type FeedbackAnswer, type FeedbackPort, type FeedbackRequest } from './feedback.js';
import { isQueryPriority } from './priority.js';
import type { QueryInput, QueryProcessor } from './query_processor.js';
import { submitSelected } from './selection_route.js';
import { PipelineRuns } from './pipeline_runs.js';

/** One predict request, whatever protocol it came in. */
export interface QueryRequest {
  /** Validated inputs: number[] or PackedNumbers for numeric types, string for strings, Buffer for bytes. */
  readonly inputs: readonly QueryInput[];
  /** Pins the first linked model's version; null: the current version (or the selection policy). */
  readonly version: string | null;
  /** The request's own SLO; null: the app's. */
  readonly sloMicros: number | null;
  /** The user, for personalised selection. */
  readonly uid: string | null;
  /**
   * How urgent the request's queries are: an integer from 0 to 15, larger = more urgent; absent or 0
   * is normal (the default, and the least urgent level). When queries of different priorities wait
   * for the same model, the more urgent go into a batch first; within one priority, the earliest
   * deadline first. Nothing is reserved for less urgent queries: under sustained urgent load they
   * miss their deadline and get the default answer like any query that does. A codec maps its own
   * convention onto this one (Triton's, where 1 is the highest: priority.ts, priorityFromTriton);
   * out of range is a 400 (CLP_ERR_INVALID_ARG).
   */
  readonly priority?: number;
  /**
   * When the request arrived (the processor's clock, ms, taken as its handler starts): its queries'
   * deadlines and latencies count from here, not from when the body was read and parsed; one already
   * past its SLO is answered with the default at once. Absent: from submit. Not readonly: a codec
   * sets it on the request it parsed.
   */
  arrivalMs?: number;
}

/** Where a request's answers go: a QuerySink that also places each input (its sink index). */
export interface RequestSink extends QuerySink {
  /** The request passed validation and `count` (> 0) queries follow: throw to refuse it (e.g. a
   * connection over its in-flight limit); nothing was submitted yet. */
  begin(count: number): void;
  /** The sink index of input `i`, called just before it is submitted (a stream allocates a slot). */
  indexFor(i: number): number;
  /** Input `i` was submitted under `index`; tokens[from..] are its queries in workers (maybe none). */
  submitted(index: number, tokens: readonly number[], from: number): void;
}

export interface PipelineDeps {
  processor: QueryProcessor;
  /** Rebuilt by the cluster on configuration changes: a deleted app's route is gone at once. */
  routes: ReadonlyMap<string, AppRoute>;
  /** Where feedback trains the policy (the SelectionHub, or a frontend thread's relay to it); null: feedback is only acknowledged. */
  hub: FeedbackPort | null;
  /** The largest per-request slo_micros a codec accepts. */
  sloMicrosMax: number;
}

export class QueryPipeline {
  readonly processor: QueryProcessor;
  readonly sloMicrosMax: number;
  readonly #routes: ReadonlyMap<string, AppRoute>;
  readonly #hub: FeedbackPort | null;
  /** Queries of pipeline apps still running (stage_run.ts), for cancel. */
  readonly runs = new PipelineRuns();

  constructor(deps: PipelineDeps) {
    this.processor = deps.processor;
    this.sloMicrosMax = deps.sloMicrosMax;
    this.#routes = deps.routes;
    this.#hub = deps.hub;
  }

  /** Whether an app of that name exists now. */
  has(appName: string): boolean {
    return this.#routes.has(appName);
  }

  /** The app's route; a 404 ClipperError when there is none. */
  route(appName: string): AppRoute {
    const route = this.#routes.get(appName);
    if (route === undefined) throw new ClipperError('CLP_ERR_APP_NOT_FOUND', `no application named '${appName}'`);
    return route;
  }

  /**
   * Validate (throws ClipperError: 400 unknown version, 413 input too large) and submit every input
   * of `request`; each is answered through `sink` exactly once. Tokens of what went to workers are
   * appended to `tokens` (for cancel()). Returns the number of inputs: 0 means an empty batch,
   * answered by the codec (no sink call).
   */
  predict(route: AppRoute, request: QueryRequest, sink: RequestSink, tokens: number[]): number {
    const processor = this.processor;
    const inputs = request.inputs;
    processor.assertInputsFit(inputs, route.typeCode);
    const graph = route.pipeline ?? null;
    if (graph !== null && request.version !== null) {
      throw new ClipperError(
        'CLP_ERR_INVALID_ARG',
        `application '${route.name}' is a pipeline: a version cannot be pinned (got "${request.version}")`,
      );
    }
    const pinned = request.version !== null;
    const placement = pinnedPlacement(route, request.version);
    const priority = request.priority ?? 0;
    if (!isQueryPriority(priority))
      throw new ClipperError('CLP_ERR_INVALID_ARG', `priority must be an integer from 0 to 15, not ${priority}`);
    const count = inputs.length;
    if (count === 0) return 0;
    sink.begin(count);
    const sloMs = request.sloMicros === null ? route.sloMs : request.sloMicros / 1000;
    const arrivalMs = request.arrivalMs;
    for (let i = 0; i < count; i++) {
      const index = sink.indexFor(i);
      const from = tokens.length;
      if (graph !== null) {
        const token = this.runs.start(processor, route, graph, inputs[i]!, sloMs, priority, sink, index, arrivalMs);
        if (token >= 0) tokens.push(token);
      } else if (pinned) {
        const token = processor.submit(route, placement, inputs[i]!, sloMs, priority, sink, index, null, arrivalMs);
        if (token >= 0) tokens.push(token);
      } else {
        submitSelected(processor, route, request.uid, inputs[i]!, sloMs, priority, sink, index, tokens, arrivalMs);
      }
      sink.submitted(index, tokens, from);
    }
    return count;
  }

  /** Forget the open queries of a client that went away. */
  cancel(tokens: readonly number[]): void {
    this.runs.cancel(tokens);
    this.processor.cancel(tokens);
  }

  /** Train the app's selection policy with one feedback; resolves with the answer once it has. */
  feedback(route: AppRoute, request: FeedbackRequest): Promise<FeedbackAnswer> {
    return applyFeedback(this.processor, this.#hub, route, request);
  }
}
