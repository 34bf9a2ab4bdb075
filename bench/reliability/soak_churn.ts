// The soak's admin churn: one management change every `stepMs`, in a cycle that ends where it began,
// so the server's resources at two cycle ends can be compared. Each cycle uses new names (a model
// version and a throwaway app never seen before), so per-name state that is never freed shows as growth.
//   1. add_model <sum model>:v<k> (current once its replica runs)   2. set_model_version back to 1
//   3. delete_versioned_model v<k>                                    4. set_num_replicas <timed> 2
//   5. set_num_replicas <timed> 1                                     6. add_app soak-tmp-<k> (exp3)
//   7. add_model_links soak-tmp-<k> → both models (selection state)   8. one predict on it (must answer)
//   9. one feedback (/update) on it                                   10. delete_model_links
//   11. delete_app soak-tmp-<k>

import { admin } from './harness.js';

export interface ChurnOptions {
  adminUrl: string;
  queryUrl: string;
  /** The model the cycle versions and links (deployed at version 1 before the churn starts). */
  sumModel: string;
  /** The model scaled up and down (version 1, one replica at rest). */
  timedModel: string;
  /** add_model's container for new versions of sumModel. */
  sumContainer: Record<string, unknown>;
  stepMs: number;
  sloMicros: number;
}

export interface ChurnStats {
  cycles: number;
  steps: number;
  /** Failed steps: "<step>: <status> <body>" (the first 20). */
  failures: string[];
  failureCount: number;
}

type Step = (k: number) => Promise<{ status: number; body: unknown }>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function steps(o: ChurnOptions): Array<[string, Step]> {
  const a = (route: string, body: unknown) => admin(o.adminUrl, route, body, {}, 120_000);
  const tmp = (k: number): string => `soak-tmp-${k}`;
  const v = (k: number): string => String(k + 2);
  return [
    [
      'add_model',
      (k) =>
        a('add_model', {
          model_name: o.sumModel,
          model_version: v(k),
          labels: [],
          input_type: 'doubles',
          container_name: 'soak',
          model_data_path: 'DEPRECATED',
          batch_size: -1,
          container: o.sumContainer,
        }),
    ],
    ['set_model_version', () => a('set_model_version', { model_name: o.sumModel, model_version: '1' })],
    ['delete_versioned_model', (k) => a('delete_versioned_model', { model_name: o.sumModel, model_version: v(k) })],
    ['scale_up', () => a('set_num_replicas', { model_name: o.timedModel, model_version: '1', num_replicas: 2 })],
    ['scale_down', () => a('set_num_replicas', { model_name: o.timedModel, model_version: '1', num_replicas: 1 })],
    [
      'add_app',
      (k) =>
        a('add_app', {
          name: tmp(k),
          input_type: 'doubles',
          default_output: '-1',
          latency_slo_micros: o.sloMicros,
          selection_policy: 'exp3',
        }),
    ],
    ['link', (k) => a('add_model_links', { app_name: tmp(k), model_names: [o.sumModel, o.timedModel] })],
    ['predict_tmp', (k) => predictOnce(`${o.queryUrl}/${tmp(k)}/predict`, '{"input":[1,2,3]}')],
    ['update_tmp', (k) => predictOnce(`${o.queryUrl}/${tmp(k)}/update`, '{"input":[1,2,3],"label":6}')],
    ['unlink', (k) => a('delete_model_links', { app_name: tmp(k), model_names: [o.sumModel, o.timedModel] })],
    ['delete_app', (k) => a('delete_app', { name: tmp(k) })],
  ];
}

/** One query or feedback: 200 when answered by the model or with a reason (either keeps the promise). */
async function predictOnce(url: string, text: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
  const body = (await res.json()) as Record<string, unknown>;
  // answered, by the model or with a reason: either is a kept promise
  const ok = res.status === 200 && (body.default !== true || typeof body.default_explanation === 'string');
  return { status: ok ? 200 : res.status, body };
}

export class AdminChurn {
  readonly #o: ChurnOptions;
  readonly stats: ChurnStats = { cycles: 0, steps: 0, failures: [], failureCount: 0 };
  #stopping = false;
  #done: Promise<void> | null = null;

  constructor(o: ChurnOptions) {
    this.#o = o;
  }

  /** Start cycling (in the background). */
  start(): void {
    this.#stopping = false;
    this.#done = this.#run();
  }

  /** Finish the cycle in progress, then stop; resolves at that cycle's end. */
  async stopAtCycleEnd(): Promise<void> {
    this.#stopping = true;
    await this.#done;
  }

  async #run(): Promise<void> {
    const list = steps(this.#o);
    while (!this.#stopping) {
      const k = this.stats.cycles;
      for (const [name, step] of list) {
        await sleep(this.#o.stepMs);
        const r = await step(k).catch((err: unknown) => ({ status: 0, body: String(err) }));
        this.stats.steps++;
        if (r.status !== 200) {
          this.stats.failureCount++;
          if (this.stats.failures.length < 20)
            this.stats.failures.push(`${name}#${k}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        }
      }
      this.stats.cycles++;
    }
  }
}
