// Placeholder until the Redis store lands: chooses a state store by URL.
import { ClipperError } from '../errors.js';
import { MemoryStateStore } from './memory_store.js';
import type { StateStore } from './state_store.js';

export function createStateStore(url: string, _clusterName: string): StateStore {
  if (url === 'memory:') return new MemoryStateStore();
  throw new ClipperError('CLP_ERR_INVALID_ARG', `state store ${url} is not supported yet`);
}
