import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PersonalStateCache, type PersonalStateOptions } from '../../src/selection/personal_state.js';
import { parsePolicyConfig } from '../../src/selection/policies/params.js';
import { createPolicy, deserializePolicy } from '../../src/selection/policies/registry.js';

const kConfig = parsePolicyConfig('epsilon_greedy', { epsilon: 0.2, personalized: true }, 3);

class FakeStore {
  readonly data = new Map<string, string>();
  loads: string[] = [];
  saves: string[] = [];
  failSaves = false;
  async load(key: string): Promise<string | null> {
    this.loads.push(key);
    await new Promise((r) => setImmediate(r));
    return this.data.get(key) ?? null;
  }
  async save(key: string, json: string): Promise<void> {
    this.saves.push(key);
    await new Promise((r) => setImmediate(r));
    if (this.failSaves) throw new Error('store down');
    this.data.set(key, json);
  }
}

function cache(store: FakeStore, extra: Partial<PersonalStateOptions> = {}): PersonalStateCache {
  return new PersonalStateCache({
    config: kConfig,
    modelCount: 3,
    maxEntries: 2,
    load: (k) => store.load(k),
    save: (k, j) => store.save(k, j),
    ...extra,
  });
}

const feedbackFor = (model: number) => ({ uid: 'u', losses: Float64Array.from([0, 1, 2], (i) => (i === model ? 0 : NaN)), chosen: model });

test('LRU evicts the least recently used entry and saves it when dirty', async () => {
  const store = new FakeStore();
  const c = cache(store, { saveOnUpdate: false });
  await c.observe('app:a', feedbackFor(2));
  await c.observe('app:b', feedbackFor(1));
  assert.deepEqual(store.saves, []);
  await c.get('app:a'); // a is now the most recent
  await c.observe('app:c', feedbackFor(0)); // evicts b
  assert.equal(c.size, 2);
  assert.equal(c.peek('app:b'), undefined);
  assert.ok(c.peek('app:a'));
  assert.equal(c.stats.evictions, 1);
  await c.flush();
  assert.deepEqual([...store.data.keys()].sort(), ['app:a', 'app:b', 'app:c']);
  const b = deserializePolicy(store.data.get('app:b')!);
  assert.equal(
    b.serialize(),
    (() => {
      const p = createPolicy(kConfig, 3);
      p.observe(feedbackFor(1));
      return p.serialize();
    })(),
  );
});

test('miss loads stored state; concurrent misses share one load', async () => {
  const store = new FakeStore();
  const trained = createPolicy(kConfig, 3);
  for (let i = 0; i < 5; i++) trained.observe(feedbackFor(2));
  store.data.set('app:u1', trained.serialize());
  const c = cache(store);
  const [p1, p2] = await Promise.all([c.get('app:u1'), c.get('app:u1')]);
  assert.equal(p1, p2);
  assert.deepEqual(store.loads, ['app:u1']);
  assert.deepEqual(Array.from(p1.snapshot()), Array.from(trained.snapshot()));
  assert.equal(c.stats.created, 0);
  await c.get('app:u1');
  assert.equal(c.stats.hits, 1);
});

test('saveOnUpdate (default) persists after each observe', async () => {
  const store = new FakeStore();
  const c = cache(store);
  const p = await c.observe('app:x', feedbackFor(1));
  await c.flush();
  assert.equal(store.data.get('app:x'), p.serialize());
});

test('reload after eviction sees the state being saved, not older store state', async () => {
  const store = new FakeStore();
  const c = cache(store, { maxEntries: 1, saveOnUpdate: false });
  const a = await c.observe('app:a', feedbackFor(2));
  const expected = a.serialize();
  await c.get('app:b'); // evicts a; its save is still in flight
  const again = await c.get('app:a');
  assert.equal(again.serialize(), expected);
  await c.flush();
});

test('stored state for another policy, model count or params is replaced by a fresh one', async () => {
  const store = new FakeStore();
  store.data.set('k1', createPolicy(parsePolicyConfig('ucb1', {}, 3), 3).serialize());
  store.data.set('k2', createPolicy(kConfig, 2).serialize());
  store.data.set('k3', createPolicy(parsePolicyConfig('epsilon_greedy', { epsilon: 0.5, personalized: true }, 3), 3).serialize());
  store.data.set('k4', '{broken');
  const errors: string[] = [];
  const c = new PersonalStateCache({
    config: kConfig,
    modelCount: 3,
    maxEntries: 10,
    load: (k) => store.load(k),
    save: (k, j) => store.save(k, j),
    onError: (op, key) => errors.push(`${op}:${key}`),
  });
  for (const k of ['k1', 'k2', 'k3', 'k4']) {
    const p = await c.get(k);
    assert.equal(p.name, 'epsilon_greedy');
    assert.equal(p.modelCount, 3);
    assert.deepEqual(p.config, kConfig);
  }
  assert.equal(c.stats.created, 4);
  assert.deepEqual(errors, ['decode:k4']);
});

test('save failures are reported and counted; load failures propagate', async () => {
  const store = new FakeStore();
  store.failSaves = true;
  const errors: string[] = [];
  const c = cache(store, { onError: (op, key) => errors.push(`${op}:${key}`) });
  await c.observe('app:z', feedbackFor(0));
  await c.flush();
  assert.equal(c.stats.saveErrors, 1);
  assert.deepEqual(errors, ['save:app:z']);
  const failing = new PersonalStateCache({
    config: kConfig,
    modelCount: 3,
    maxEntries: 2,
    load: async () => {
      throw new Error('unavailable');
    },
    save: () => {},
  });
  await assert.rejects(failing.get('k'), /unavailable/);
  await assert.rejects(failing.get('k'), /unavailable/); // not cached as a failure
});
