// The query-core simulator's checks: what one answer may say, and how the core's counters must add
// up at the end of a run (the rules are listed in simulator.ts).

import { DefaultReason } from '../../src/ipc/records.js';
import type { Answer, AnswerExtra } from '../../src/query/answer.js';
import { explainDefault, kExplainNoModel, kExplainQueueFull, kExplainShutdown, kExplainSlo } from '../../src/query/explanations.js';
import type { QueryProcessor } from '../../src/query/query_processor.js';
import type { SimApp } from './config.js';

export interface SimQuery {
  readonly index: number;
  readonly app: SimApp;
  readonly defaultJson: string;
  /** The model's output for this input, or null when the app has no model. */
  readonly expectedJson: string | null;
  readonly extra: AnswerExtra | null;
  readonly submitMs: number;
  readonly deadlineMs: number;
  token: number;
  state: 'open' | 'answered' | 'cancelled';
  answer: Answer | null;
}

/** What the clients saw. */
export interface SimTally {
  submitted: number;
  answered: number;
  cancelled: number;
  /** Answers with a model's output (from a worker or the cache). */
  ok: number;
  defaults: number;
  shed: number;
  byExplanation: Record<string, number>;
}

type Fail = (message: string) => never;

const kExplainModelError = explainDefault(DefaultReason.ModelError, 'simulated model error');
const kExplainReplicaFailed = explainDefault(DefaultReason.ReplicaFailed, 'simulated replica failure');
const kExplainUnreachable = explainDefault(DefaultReason.DeadlineUnreachable, '');

export function checkAnswerFields(q: SimQuery, a: Answer, nowMs: number, ctx: { closed: boolean; slackMs: number; fail: Fail }): void {
  const fail = (message: string): never => ctx.fail(`query ${q.index} (${q.app.name}): ${message}`);
  if (!a.isDefault) {
    if (q.expectedJson === null) fail(`a model's answer ${a.outputJson} for an app with no model`);
    if (a.outputJson !== q.expectedJson) fail(`output ${a.outputJson}, but its model answers ${q.expectedJson} for its input`);
    if (a.explanation !== null || a.shed) fail(`a model's answer with explanation ${a.explanation} / shed ${a.shed}`);
    if (a.extra !== q.extra) fail(`extra ${JSON.stringify(a.extra)} is not the one submitted`);
    return;
  }
  if (a.outputJson !== q.defaultJson) fail(`default output ${a.outputJson}, not the app's ${q.defaultJson}`);
  const why = a.explanation;
  const shedReason = why === kExplainQueueFull || why === kExplainUnreachable;
  if (a.shed !== shedReason) fail(`shed ${a.shed} with explanation ${why}`);
  switch (why) {
    case kExplainSlo:
      if (Math.abs(nowMs - q.deadlineMs) > ctx.slackMs) fail(`an SLO default at ${nowMs}, its deadline is ${q.deadlineMs}`);
      break;
    case kExplainNoModel:
      if (q.app.model !== null) fail('"no connected models" although its model is deployed');
      break;
    case kExplainShutdown:
      if (!ctx.closed) fail('a shutdown answer before close()');
      break;
    case kExplainQueueFull:
    case kExplainUnreachable:
    case kExplainModelError:
    case kExplainReplicaFailed:
      if (q.app.model === null) fail(`${why} for an app with no model`);
      break;
    default:
      fail(`unexpected explanation ${JSON.stringify(why)}`);
  }
}

interface AppTally {
  queries: number;
  answered: number;
  defaults: number;
  sloMisses: number;
}

function appTallies(queries: readonly SimQuery[]): Map<string, AppTally> {
  const byApp = new Map<string, AppTally>();
  for (const q of queries) {
    let t = byApp.get(q.app.name);
    if (t === undefined) {
      t = { queries: 0, answered: 0, defaults: 0, sloMisses: 0 };
      byApp.set(q.app.name, t);
    }
    t.queries++;
    if (q.answer === null) continue;
    t.answered++;
    if (q.answer.isDefault) t.defaults++;
    if (q.answer.explanation === kExplainSlo) t.sloMisses++;
  }
  return byApp;
}

/** At the end of a run: the core's counters and per-app stats agree with what the clients saw. */
export function checkTotals(
  processor: QueryProcessor,
  queries: readonly SimQuery[],
  tally: SimTally,
  ctx: { closed: boolean; fail: Fail },
): void {
  const fail = ctx.fail;
  const c = processor.counters;
  const seen: Record<keyof typeof c, number> = {
    queries: tally.submitted,
    answered: tally.answered,
    defaults: tally.defaults,
    sloMisses: tally.byExplanation[kExplainSlo] ?? 0,
    cancelled: tally.cancelled,
  };
  for (const name of Object.keys(seen) as (keyof typeof c)[]) {
    if (c[name] !== seen[name]) fail(`counters.${name} is ${c[name]}, the clients saw ${seen[name]}`);
  }
  if (c.queries !== c.answered + c.cancelled) fail(`queries ${c.queries} != answered ${c.answered} + cancelled ${c.cancelled}`);
  if (processor.pendingCount !== 0) fail(`${processor.pendingCount} queries still pending in the core`);
  for (const [name, t] of appTallies(queries)) {
    const s = processor.appStats(name);
    const observed = s.latencyUs.counts.reduce((a, b) => a + b, 0);
    if (s.queries !== t.queries || s.defaults !== t.defaults || s.sloMisses !== t.sloMisses || observed !== t.answered) {
      fail(
        `app ${name}: stats queries/defaults/sloMisses/latencies ${s.queries}/${s.defaults}/${s.sloMisses}/${observed}, ` +
          `the clients saw ${t.queries}/${t.defaults}/${t.sloMisses}/${t.answered}`,
      );
    }
  }
  const cache = processor.cache.stats();
  if (!ctx.closed && cache.pendingCount !== 0) fail(`${cache.pendingCount} cache entries still pending (never settled)`);
}
