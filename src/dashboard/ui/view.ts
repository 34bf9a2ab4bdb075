// The page's cards: one per application and one per model version in the latest snapshot, in name
// order. Cards appear when an app or model appears and go when it is gone; each is updated from the
// snapshot window on every new snapshot.

import type { AdminActions } from './actions.js';
import { AppCard } from './app_card.js';
import { h } from './dom.js';
import { ModelCard } from './model_card.js';
import { appColumns, modelColumns, modelKey, type SnapshotWindow } from './series.js';

interface Card {
  readonly root: HTMLElement;
  resize(): void;
  destroy(): void;
}

/** Makes `cards` hold exactly `keys` (in that order, under `parent`), creating the missing ones. */
function sync<C extends Card>(parent: HTMLElement, cards: Map<string, C>, keys: string[], create: (key: string) => C, empty: string): void {
  const wanted = new Set(keys);
  for (const [key, card] of cards) {
    if (!wanted.has(key)) {
      card.destroy();
      cards.delete(key);
    }
  }
  const placeholder = parent.querySelector(':scope > .empty');
  if (keys.length === 0 && placeholder === null) parent.append(h('p', { class: 'empty', text: empty }));
  if (keys.length > 0) placeholder?.remove();
  keys.forEach((key, i) => {
    let card = cards.get(key);
    if (card === undefined) {
      card = create(key);
      cards.set(key, card);
    }
    // Keep name order without moving cards that are already in place (moving would reset their inputs' focus).
    if (parent.children[i] !== card.root) parent.insertBefore(card.root, parent.children[i] ?? null);
  });
}

export class DashboardView {
  readonly #apps = new Map<string, AppCard>();
  readonly #models = new Map<string, ModelCard>();

  constructor(
    readonly appsEl: HTMLElement,
    readonly modelsEl: HTMLElement,
    readonly actions: AdminActions,
  ) {}

  render(win: SnapshotWindow): void {
    const latest = win.latest;
    if (latest === null) return;
    const apps = [...latest.apps].sort((a, b) => a.name.localeCompare(b.name));
    const models = [...latest.models].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
    sync(
      this.appsEl,
      this.#apps,
      apps.map((a) => a.name),
      (name) => new AppCard(name, this.actions),
      'No applications yet.',
    );
    sync(
      this.modelsEl,
      this.#models,
      models.map(modelKey),
      (key) => {
        const m = models.find((x) => modelKey(x) === key)!;
        return new ModelCard(m.name, m.version, this.actions);
      },
      'No model versions yet.',
    );
    for (const a of apps) this.#apps.get(a.name)!.update(a, appColumns(win.snapshots, a.name));
    for (const m of models) this.#models.get(modelKey(m))!.update(m, modelColumns(win.snapshots, modelKey(m)));
  }

  resize(): void {
    for (const c of this.#apps.values()) c.resize();
    for (const c of this.#models.values()) c.resize();
  }
}
