// A small open-loop load for the dashboard's browser tests and screenshots (test/browser/,
// bench/dashboard_screenshots.ts): a fixed rate of predictions with unique inputs (so the prediction
// cache never answers them) to each app, and optionally feedback (/update) to a bandit app so its
// selection weights move. Sends on a timer whether or not answers came back (open loop); stop()
// waits for what is in flight. Not a measuring tool: tools/loadgen (`clipper bench`) is.

export interface LoadTarget {
  app: string;
  /** Predictions per second to this app. */
  rateRps: number;
  /** Every n-th prediction is followed by an /update with label = feedbackLabel(input); 0: none. */
  feedbackEvery?: number;
  feedbackLabel?: (input: number[]) => number;
}

export interface LoadCounts {
  sent: number;
  /** 200 answers that were not the default output. */
  answered: number;
  defaults: number;
  /** Non-200 answers and transport errors, the first few kept in `errors`. */
  failed: number;
  errors: string[];
  feedbackSent: number;
}

export interface RunningLoad {
  counts(app: string): LoadCounts;
  /** Stop sending; resolves when every request in flight has settled. */
  stop(): Promise<void>;
}

const kTickMs = 20;
const kErrorsKept = 5;

/**
 * A unique 4-element input for query `i` of target `target`: no two queries of a run are the same,
 * also across apps (apps sharing a model share its cache, which would answer a repeat).
 */
export function uniqueInput(i: number, target: number, salt: number): number[] {
  return [i + 1, salt + target / 100, (i % 97) / 97, ((i * 7919) % 1000) / 1000];
}

export function startLoad(queryPort: number, targets: LoadTarget[], host = '127.0.0.1'): RunningLoad {
  const base = `http://${host}:${queryPort}`;
  const salt = Date.now() % 100_000;
  const startMs = performance.now();
  const inFlight = new Set<Promise<void>>();
  const counts = new Map<string, LoadCounts>();
  for (const target of targets) {
    counts.set(target.app, { sent: 0, answered: 0, defaults: 0, failed: 0, errors: [], feedbackSent: 0 });
  }
  const track = (p: Promise<void>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const fail = (c: LoadCounts, what: string): void => {
    c.failed++;
    if (c.errors.length < kErrorsKept) c.errors.push(what);
  };
  const send = (target: LoadTarget, index: number, c: LoadCounts): void => {
    const input = uniqueInput(c.sent, index, salt);
    const withFeedback = (target.feedbackEvery ?? 0) > 0 && c.sent % target.feedbackEvery! === 0;
    c.sent++;
    track(
      post(`${base}/${target.app}/predict`, { input }).then(
        async ({ status, body }) => {
          if (status !== 200) return fail(c, `HTTP ${status}: ${JSON.stringify(body)}`);
          if (body.default === true) c.defaults++;
          else c.answered++;
          if (withFeedback && target.feedbackLabel !== undefined) {
            c.feedbackSent++;
            // Caught here: the outer handler only sees the predict's rejection, and an unhandled one
            // fails the test that runs the load (a connection refused while the server restarts).
            try {
              const r = await post(`${base}/${target.app}/update`, { input, label: target.feedbackLabel(input) });
              if (r.status !== 200) fail(c, `update: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
            } catch (err) {
              fail(c, `update: ${(err as Error).message} ${String(((err as Error).cause as Error | undefined)?.message ?? '')}`);
            }
          }
        },
        (err: Error) => fail(c, `${err.message} ${String((err.cause as Error | undefined)?.message ?? '')}`),
      ),
    );
  };
  const timer = setInterval(() => {
    const elapsedS = (performance.now() - startMs) / 1000;
    targets.forEach((target, index) => {
      const c = counts.get(target.app)!;
      const due = Math.floor(elapsedS * target.rateRps) - c.sent;
      for (let k = 0; k < due; k++) send(target, index, c);
    });
  }, kTickMs);
  return {
    counts: (app) => {
      const c = counts.get(app);
      if (c === undefined) throw new Error(`no load runs against app ${app}`);
      return { ...c, errors: [...c.errors] };
    },
    stop: async () => {
      clearInterval(timer);
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: parsed answer JSON, read by field
async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}
