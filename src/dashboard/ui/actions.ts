// The tuner's actions on the page: each is one admin API call (POST /admin/<route> with a JSON
// body and the admin token when there is one), and its form shows the answer or the JSON error
// in place. The effect shows up in the charts with the next snapshots.

import { h } from './dom.js';
import { describeAnswer } from './format.js';

export interface ActionResult {
  ok: boolean;
  message: string;
}

export class AdminActions {
  readonly #token: () => string | null;
  readonly #onUnauthorized: (message: string) => void;

  /** `onUnauthorized` runs on 401/403, so the page can ask for a token. */
  constructor(token: () => string | null, onUnauthorized: (message: string) => void) {
    this.#token = token;
    this.#onUnauthorized = onUnauthorized;
  }

  async call(route: string, body: Record<string, unknown>): Promise<ActionResult> {
    const token = this.#token();
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (token !== null) headers.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(`/admin/${route}`, { method: 'POST', headers, body: JSON.stringify(body) });
    } catch (err) {
      return { ok: false, message: `cannot reach the server: ${err instanceof Error ? err.message : String(err)}` };
    }
    const text = await res.text().catch(() => '');
    const message = describeAnswer(res.status, text);
    if (res.status === 401 || res.status === 403) this.#onUnauthorized(message);
    return { ok: res.ok, message };
  }

  setSlo(app: string, sloMicros: number): Promise<ActionResult> {
    return this.call('set_app_slo', { name: app, slo_micros: sloMicros });
  }

  setReplicas(model: string, version: string, numReplicas: number): Promise<ActionResult> {
    return this.call('set_num_replicas', { model_name: model, model_version: version, num_replicas: numReplicas });
  }

  /** -1: adaptive; else the fixed maximum batch size. */
  setBatchSize(model: string, version: string, batchSize: number): Promise<ActionResult> {
    return this.call('set_model_batch_size', { model_name: model, model_version: version, batch_size: batchSize });
  }
}

/** Reads a number from an input, or says what to enter. */
export function readNumber(input: HTMLInputElement, what: string, integer: boolean): number | string {
  const raw = input.value.trim();
  const v = Number(raw);
  if (raw === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) return `enter ${what}`;
  return v;
}

/**
 * A form of `controls` and a button; on submit `run` either refuses with a message (a string) or
 * makes the call, and the answer shows in the form's status line (data-status="ok" or "error").
 * The browser's own validation is off (novalidate): the server's 400 names the field and the limit.
 */
export function actionForm(
  name: string,
  controls: HTMLElement[],
  button: string,
  run: () => string | Promise<ActionResult>,
): HTMLFormElement {
  const submit = h('button', { text: button, attrs: { type: 'submit' } });
  const status = h('output', { class: 'action-status', attrs: { 'data-status': '' } });
  const form = h('form', { class: 'action', attrs: { 'data-action': name, novalidate: '' } }, ...controls, submit, status);
  const show = (ok: boolean, message: string): void => {
    status.textContent = message;
    status.dataset.status = ok ? 'ok' : 'error';
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const pending = run();
    if (typeof pending === 'string') return show(false, pending);
    submit.disabled = true;
    status.textContent = '…';
    status.dataset.status = 'pending';
    pending
      .then(
        (r) => show(r.ok, r.message),
        (err: unknown) => show(false, err instanceof Error ? err.message : String(err)),
      )
      .finally(() => {
        submit.disabled = false;
      });
  });
  return form;
}

/** A labelled input. */
export function field(label: string, input: HTMLElement): HTMLLabelElement {
  return h('label', { class: 'field' }, h('span', { text: label }), input);
}
