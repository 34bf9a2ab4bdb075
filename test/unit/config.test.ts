// Cluster configuration: defaults resolve, and every bad option is refused at start-up with a
// message that names it (the cache and low-load polling options of the hot path included).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveSchedulerOptions } from '../../src/batching/scheduler_options.js';
import { kDefaultConfig, resolveConfig, schedulerOptionsOf } from '../../src/config.js';
import { ClipperError } from '../../src/errors.js';

test('the defaults resolve unchanged', () => {
  assert.deepEqual({ ...resolveConfig() }, { ...kDefaultConfig });
  assert.equal(resolveConfig({ cacheBytesMax: 0 }).cacheBytesMax, 0, '0 turns the cache off');
  assert.equal(resolveConfig({ ringPollUs: 0 }).ringPollUs, 0, '0 turns low-load polling off');
  for (const dockerHost of ['unix:///run/docker.sock', 'tcp://127.0.0.1:2375', '/var/run/docker.sock']) {
    assert.equal(resolveConfig({ containers: 'docker', dockerHost }).dockerHost, dockerHost);
  }
});

test('bad options are refused, naming the option', () => {
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ cacheBytesMax: 100 }, /config\.cacheBytesMax must be 0 \(off\) or at least 4096/],
    [{ cacheBytesMax: -1 }, /config\.cacheBytesMax/],
    [{ ringPollUs: -5 }, /config\.ringPollUs/],
    [{ ringPollUs: 1.5 }, /config\.ringPollUs/],
    [{ ringBytes: 100_000 }, /config\.ringBytes must be a power of two/],
    [{ noSuchOption: 1 }, /config\.noSuchOption is not a known option/],
    [{ containers: 'podman' }, /config\.containers must be 'local', 'docker' or 'kubernetes'/],
    [{ dockerHost: 'http://x' }, /config\.dockerHost must be/],
  ];
  for (const [overrides, message] of refused) {
    assert.throws(() => resolveConfig(overrides as never), message, JSON.stringify(overrides));
  }
});

test('the scheduler takes its defaults from the config (one home for defaults)', () => {
  assert.deepEqual(schedulerOptionsOf(kDefaultConfig), {
    batchSizeCap: kDefaultConfig.batchSizeMax,
    batchWaitMs: kDefaultConfig.batchWaitMs,
    queueBound: kDefaultConfig.queueBound,
    inFlightPerReplica: kDefaultConfig.inFlightBatchesPerReplica,
    inFlightTimeoutMs: kDefaultConfig.inFlightTimeoutMs,
  });
  const resolved = resolveSchedulerOptions();
  for (const [option, value] of Object.entries(schedulerOptionsOf(kDefaultConfig))) {
    assert.equal(resolved[option as keyof typeof resolved], value, option);
  }
});

test('refusals are ClipperErrors whose details name the bare option', () => {
  assert.throws(
    () => resolveConfig({ queueBound: 0 }),
    (err: unknown) =>
      err instanceof ClipperError &&
      err.code === 'CLP_ERR_INVALID_ARG' &&
      err.details?.option === 'queueBound' &&
      /^config\.queueBound must be an integer in \[1, 10000000\] \(got 0\)$/.test(err.message),
  );
  assert.throws(
    () => resolveSchedulerOptions({ sloBudgetFraction: 0 }),
    (err: unknown) => err instanceof ClipperError && /^scheduler\.sloBudgetFraction must be a number in \(0, 1\]/.test(err.message),
  );
});
