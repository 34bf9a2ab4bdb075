// Picks the state store for a URL: 'memory:' → the embedded in-process store; redis:// or
// rediss:// → RedisStateStore, namespaced by the cluster name.

import { ClipperError } from '../errors.js';
import { MemoryStateStore } from './memory_store.js';
import { redactRedisUrl } from './redis_keys.js';
import { RedisStateStore, type RedisStateStoreOptions } from './redis_store.js';
import type { StateStore } from './state_store.js';

export function createStateStore(
  url: string,
  clusterName: string,
  redisOptions: Omit<RedisStateStoreOptions, 'clusterName'> = {},
): StateStore {
  if (url === 'memory:') return new MemoryStateStore();
  if (url.startsWith('redis://') || url.startsWith('rediss://')) {
    return new RedisStateStore(url, { ...redisOptions, clusterName });
  }
  throw new ClipperError(
    'CLP_ERR_INVALID_ARG',
    `config.state must be 'memory:' or a redis:// URL (got ${JSON.stringify(redactRedisUrl(url))})`,
  );
}
