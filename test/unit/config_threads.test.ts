// Thread counts in the configuration (src/config_threads.ts, src/config.ts): frontendThreads' default
// from CLIPPER_FRONTEND_THREADS or the cores, batchingThreads' default beside it, and the checks,
// whose messages name the option (and the variable when it set the value).

import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { resolveConfig } from '../../src/config.js';
import { defaultBatchingThreads, defaultFrontendThreads, kFrontendThreadsEnv } from '../../src/config_threads.js';

/** Runs `fn` with CLIPPER_FRONTEND_THREADS set to `value` (undefined: unset), restoring it after. */
function withEnv<T>(value: string | undefined, fn: () => T): T {
  const before = process.env[kFrontendThreadsEnv];
  if (value === undefined) delete process.env[kFrontendThreadsEnv];
  else process.env[kFrontendThreadsEnv] = value;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env[kFrontendThreadsEnv];
    else process.env[kFrontendThreadsEnv] = before;
  }
}

test('frontendThreads defaults to 1 below 4 cores, else half the cores up to 8', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 6, 16, 64].map((cores) => defaultFrontendThreads(undefined, cores)),
    [1, 1, 1, 2, 3, 8, 8],
  );
  assert.equal(defaultFrontendThreads('', 16), 8, 'an empty variable counts as unset');
});

test('CLIPPER_FRONTEND_THREADS sets the default; a bad value names the option and the variable', () => {
  assert.equal(defaultFrontendThreads('3', 2), 3);
  assert.equal(defaultFrontendThreads(' 1 ', 64), 1);
  for (const bad of ['0', '33', '1.5', 'two']) {
    assert.throws(
      () => defaultFrontendThreads(bad, 2),
      (err: Error) => /config\.frontendThreads must be an integer in \[1, 32\], set by env CLIPPER_FRONTEND_THREADS/.test(err.message),
      bad,
    );
  }
  assert.equal(
    withEnv('3', () => resolveConfig().frontendThreads),
    3,
  );
  assert.equal(
    withEnv('3', () => resolveConfig({ frontendThreads: 1 }).frontendThreads),
    1,
    'an explicit option wins',
  );
  assert.throws(() => withEnv('nope', () => resolveConfig()), /config\.frontendThreads/);
});

test('batchingThreads left to its default leaves the frontend threads their cores', () => {
  assert.equal(defaultBatchingThreads(16, 1), 15);
  assert.equal(defaultBatchingThreads(16, 8), 8);
  assert.equal(defaultBatchingThreads(2, 2), 1, 'at least one');
  const cores = os.availableParallelism();
  assert.equal(resolveConfig({ frontendThreads: 2 }).batchingThreads, Math.max(1, cores - 2));
  assert.equal(resolveConfig({ frontendThreads: 1 }).batchingThreads, Math.max(1, cores - 1));
  assert.equal(resolveConfig({ frontendThreads: 2, batchingThreads: 5 }).batchingThreads, 5, 'an explicit count is kept');
});

test('frontendThreads and frontendAccept are checked, the message naming the option', () => {
  assert.throws(() => resolveConfig({ frontendThreads: 0 }), /config\.frontendThreads must be an integer in \[1, 32\] \(got 0\)/);
  assert.throws(() => resolveConfig({ frontendThreads: 33 }), /config\.frontendThreads/);
  assert.throws(
    () => resolveConfig({ frontendAccept: 'fork' as never }),
    /config\.frontendAccept must be 'reuseport' or 'acceptor' \(got "fork"\)/,
  );
  assert.equal(resolveConfig().frontendAccept, 'acceptor', 'the default: even hand-out of connections (config.ts)');
  assert.equal(resolveConfig({ frontendAccept: 'reuseport' }).frontendAccept, 'reuseport');
});
