// Applying one StateChange to a StateSnapshot: what every listener of a state store does to keep its
// view of the configuration (the cluster, and the test doubles that stand in for it).

import { modelKey, type StateSnapshot } from './records.js';
import type { StateChange } from './state_store.js';

/**
 * Applies `change` to `snapshot`: record changes in place, a resync by replacing it. Returns the
 * snapshot to keep (the same object, or the resync's).
 */
export function applyChange(snapshot: StateSnapshot, change: StateChange): StateSnapshot {
  switch (change.kind) {
    case 'app_put':
      snapshot.apps.set(change.app.name, change.app);
      break;
    case 'app_deleted':
      snapshot.apps.delete(change.name);
      break;
    case 'model_put':
      snapshot.models.set(modelKey(change.model.model_name, change.model.model_version), change.model);
      break;
    case 'model_deleted':
      snapshot.models.delete(modelKey(change.name, change.version));
      break;
    case 'current_version':
      if (change.version === null) snapshot.currentVersions.delete(change.name);
      else snapshot.currentVersions.set(change.name, change.version);
      break;
    case 'resync':
      return change.snapshot;
  }
  return snapshot;
}
