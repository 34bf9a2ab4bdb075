// Real Redis for tests: probing, a private redis-server on a spare port, key clean-up.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { redisKeys } from '../../src/state/redis_keys.js';

import { redisAnswers } from '../../bench/reliability/harness_redis.js';

// One probe and one free-port finder for tests and the reliability scripts.
export { freePort, redisAnswers } from '../../bench/reliability/harness_redis.js';

export const kRedisUrl = 'redis://127.0.0.1:6379';
export const kRedisServer = '/usr/bin/redis-server';
export const kRedisSkipMessage =
  "Redis not reachable at 127.0.0.1:6379: start it with redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no";

export function uniqueCluster(): string {
  return `t${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key of the cluster, found by SCAN of its prefix; returns how many there were. */
export async function deleteClusterKeys(url: string, cluster: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', redisKeys(cluster).pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export async function startRedis(t: TestContext, port: number): Promise<ChildProcess> {
  const child = spawn(
    kRedisServer,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const start = Date.now();
  while (!(await redisAnswers(port))) {
    if (child.exitCode !== null || Date.now() - start > 10_000) assert.fail(`redis-server on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}
