// The one container-manager interface. The local-process manager is the embedded default; Docker
// and Kubernetes managers implement the same contract. A manager starts and supervises replicas;
// it never talks the container protocol (the batching worker that owns a model dials its replicas).

import type { ModelRecord } from '../state/records.js';

export interface ReplicaEndpoint {
  model: string;
  version: string;
  replicaId: number;
  host: string;
  port: number;
}

export interface ReplicaInfo extends ReplicaEndpoint {
  state: 'starting' | 'running' | 'restarting' | 'stopped';
  pid: number | null;
  restartCount: number;
}

export interface ContainerManagerEvents {
  /** A replica process is listening and can be dialled. */
  onReplicaStarted(endpoint: ReplicaEndpoint): void;
  /** A replica process went away (it will be restarted unless the model was removed). */
  onReplicaStopped(endpoint: ReplicaEndpoint, reason: string): void;
}

export interface ContainerManager {
  /**
   * Run `model.num_replicas` replicas of this model version (start or stop the difference). Resolves
   * once at least one replica is listening (or at once when zero are wanted); rejects with the
   * container's own error when a new deployment cannot start.
   */
  ensure(model: ModelRecord): Promise<void>;
  /** Stop every replica of this model version. */
  remove(name: string, version: string): Promise<void>;
  list(): ReplicaInfo[];
  close(): Promise<void>;
}
