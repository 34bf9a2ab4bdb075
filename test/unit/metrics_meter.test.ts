// Clipper's meters (EWMA 1/5/15 min, 5 s ticks) sampled from counts with an injected clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ewma, kMeterTickMs, Meter, MeterSet } from '../../src/metrics/meter.js';
import { seededRandom, testSeed } from '../helpers/prng.js';

const close = (actual: number, expected: number, what: string, rel = 1e-9): void => {
  assert.ok(Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
};

/** A per-tick reference EWMA written out as Dropwizard defines it. */
function referenceEwma(minutes: number, instants: number[]): number {
  const alpha = 1 - Math.exp(-5 / 60 / minutes);
  let rate = 0;
  instants.forEach((x, i) => {
    rate = i === 0 ? x : rate + alpha * (x - rate);
  });
  return rate;
}

test('Ewma: alpha = 1 - exp(-5/60/minutes); n ticks at once equal n single ticks', () => {
  close(new Ewma(1).alpha, 1 - Math.exp(-5 / 60), 'alpha 1 min');
  close(new Ewma(15).alpha, 1 - Math.exp(-5 / 60 / 15), 'alpha 15 min');
  const one = new Ewma(5);
  const many = new Ewma(5);
  one.tick(10);
  many.tick(10);
  for (let i = 0; i < 7; i++) one.tick(3);
  many.tick(3, 7);
  close(many.ratePerS, one.ratePerS, '7 ticks');
  many.tick(3, 0);
  close(many.ratePerS, one.ratePerS, '0 ticks change nothing');
});

test('Meter sampled at every tick follows the reference EWMA (seeded random counts)', () => {
  const seed = testSeed();
  const random = seededRandom(seed);
  const meter = new Meter(0);
  const instants: number[] = [];
  let count = 0;
  for (let tick = 1; tick <= 100; tick++) {
    const events = Math.floor(random() * 500);
    count += events;
    instants.push(events / (kMeterTickMs / 1000));
    meter.sample(count, tick * kMeterTickMs);
  }
  const s = meter.snapshot();
  close(s.rate1minPerS, referenceEwma(1, instants), `1 min (seed ${seed})`);
  close(s.rate5minPerS, referenceEwma(5, instants), `5 min (seed ${seed})`);
  close(s.rate15minPerS, referenceEwma(15, instants), `15 min (seed ${seed})`);
  close(s.ratePerS, count / 500, `mean rate (seed ${seed})`);
});

test('Meter: no rate before the first tick; a sample between ticks is split across the boundary', () => {
  const meter = new Meter(0);
  meter.sample(40, 4000);
  assert.equal(meter.snapshot().rate1minPerS, 0, 'no tick yet');
  assert.equal(meter.snapshot().ratePerS, 10, 'mean rate: 40 events in 4 s');
  // 10 events/s throughout: by 6 s the first 5 s interval holds 50 events
  meter.sample(60, 6000);
  close(meter.snapshot().rate1minPerS, 10, 'first tick seeds the average');
  meter.sample(100, 10_000);
  close(meter.snapshot().rate1minPerS, 10, 'steady rate stays');
});

test('Meter: sampling rarely gives the same EWMA as sampling every tick at a steady rate, and decays to e^-1 a minute', () => {
  const often = new Meter(0);
  const rarely = new Meter(0);
  for (let t = 1; t <= 36; t++) often.sample(t * 5 * 20, t * kMeterTickMs); // 20 events/s for 3 min
  rarely.sample(180 * 20, 180_000);
  for (const key of ['rate1minPerS', 'rate5minPerS', 'rate15minPerS', 'ratePerS'] as const) {
    close(rarely.snapshot()[key], often.snapshot()[key], key);
  }
  const before = rarely.snapshot();
  rarely.sample(180 * 20, 240_000); // one idle minute: 12 ticks of zero
  close(rarely.snapshot().rate1minPerS, before.rate1minPerS * Math.exp(-1), '1 min rate after an idle minute');
  close(rarely.snapshot().rate5minPerS, before.rate5minPerS * Math.exp(-1 / 5), '5 min rate after an idle minute');
});

test('Meter: a count that goes down restarts the meter; a clock going back is ignored', () => {
  const meter = new Meter(0);
  meter.sample(500, 10_000);
  meter.sample(5, 20_000);
  assert.deepEqual(meter.snapshot(), { ratePerS: 0, rate1minPerS: 0, rate5minPerS: 0, rate15minPerS: 0 });
  meter.sample(55, 25_000);
  meter.sample(1000, 24_000);
  close(meter.snapshot().ratePerS, 10, 'mean rate since the restart');
  close(meter.snapshot().rate1minPerS, 10, 'first tick after the restart');
});

test('MeterSet: a new name starts at the previous sample from zero; an absent name is dropped', () => {
  const set = new MeterSet(0);
  set.sample([['a', 0]], 10_000);
  set.sample(
    [
      ['a', 100],
      ['b', 50],
    ],
    20_000,
  );
  close(set.get('b')!.ratePerS, 5, 'b: 50 events since the sample at 10 s');
  close(set.get('a')!.ratePerS, 5, 'a: 100 events in 20 s');
  set.sample([['b', 60]], 25_000);
  assert.equal(set.get('a'), null);
  assert.equal(set.get('nothing'), null);
});
