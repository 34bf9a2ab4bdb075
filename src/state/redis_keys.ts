// The Redis key layout of one cluster. Every key carries the cluster name inside a hash tag
// (`{name}`), so a cluster's keys share one Redis Cluster slot (the write scripts touch two keys)
// and two cluster names never see each other's data. Enumeration is by these fixed keys (and
// SCAN of the prefix in tests), never KEYS.
//
//   clipper:{<cluster>}:apps      hash   app name          → JSON AppRecord
//   clipper:{<cluster>}:models    hash   "<name>:<version>" → JSON ModelRecord
//   clipper:{<cluster>}:current   hash   model name        → current version
//   clipper:{<cluster>}:policy    hash   policy state key  → opaque JSON text
//   clipper:{<cluster>}:seq       string change counter (INCR by every write that publishes)
//   clipper:{<cluster>}:changes   pub/sub channel (`...:changes:db<N>` when the URL selects db N > 0;
//                                 channels are not scoped by db)
//
// A change message is `{"seq":<n>,"writer":"<store id>","change":<StateChange JSON>}`.

import { ClipperError } from '../errors.js';

export interface RedisKeys {
  readonly apps: string;
  readonly models: string;
  readonly current: string;
  readonly policy: string;
  readonly seq: string;
  readonly channel: string;
  /** SCAN MATCH pattern covering every key of the cluster. */
  readonly pattern: string;
}

const kClusterNamePattern = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkClusterName(name: string): void {
  if (typeof name !== 'string' || !kClusterNamePattern.test(name)) {
    throw new ClipperError('CLP_ERR_INVALID_ARG', `clusterName must be 1-64 characters of [A-Za-z0-9_.-] (got ${JSON.stringify(name)})`);
  }
}

export function redisKeys(clusterName: string, db = 0): RedisKeys {
  checkClusterName(clusterName);
  const prefix = `clipper:{${clusterName}}:`;
  return {
    apps: `${prefix}apps`,
    models: `${prefix}models`,
    current: `${prefix}current`,
    policy: `${prefix}policy`,
    seq: `${prefix}seq`,
    channel: db === 0 ? `${prefix}changes` : `${prefix}changes:db${db}`,
    pattern: `${prefix}*`,
  };
}

/** The URL with any password replaced, for error messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/(\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}
