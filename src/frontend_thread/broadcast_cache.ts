// The prediction cache's per-model switch (control/deployments.ts's ModelCache) when every frontend
// thread has a cache of its own: each switch is posted to every thread. Messages on a port keep
// their order, so a model's cache switch reaches a thread before the 'routes' that first send it
// queries (Deployments switches the cache, then rebuilds the routes).

import type { Placement } from '../batching/protocol.js';
import type { FrontendControl } from './messages.js';

export class BroadcastCache {
  readonly #post: (msg: FrontendControl) => void;

  /** `post`: sends one message to every frontend thread. */
  constructor(post: (msg: FrontendControl) => void) {
    this.#post = post;
  }

  setEnabled(placement: Placement, enabled: boolean): void {
    this.#post({ kind: 'cache_enabled', placement: { ...placement }, enabled });
  }

  forgetModel(placement: Placement): void {
    this.#post({ kind: 'cache_forget_model', placement: { ...placement } });
  }
}
