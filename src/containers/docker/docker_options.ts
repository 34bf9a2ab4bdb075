// The Docker container manager's options and their defaults.

import type { ModelRecord } from '../../state/records.js';
import type { HealthTiming } from './replica_container.js';

export interface DockerManagerOptions {
  clusterName: string;
  /**
   * The image a model version runs (built, found or pulled): its tag, shown to users, and its id,
   * which containers are created from (a tag another cluster rebuilds cannot change what runs).
   */
  prepareImage: (model: ModelRecord) => Promise<{ tag: string; id: string }>;
  /** From container start to the runner's ready line. */
  startTimeoutMs: number;
  restartDelayMsMin: number;
  restartDelayMsMax: number;
  /** How often the engine is asked for every replica's state and health. */
  healthPollMs: number;
  /** Grace period of `docker stop` before SIGKILL. */
  stopTimeoutS: number;
  /** Port the runner listens on inside the container. */
  containerPort: number;
  /** Health check timing instead of the image's (model images: every 5 s, 3 retries, 30 s start period). */
  health?: HealthTiming;
  /** The cluster's replica secret (hex), given to each container as CLIPPER_REPLICA_SECRET (rpc/replica_auth.ts). */
  replicaSecretHex?: string;
}

export const kDockerManagerDefaults: Omit<DockerManagerOptions, 'clusterName' | 'prepareImage'> = {
  startTimeoutMs: 60_000,
  restartDelayMsMin: 100,
  restartDelayMsMax: 5_000,
  healthPollMs: 2_000,
  stopTimeoutS: 2,
  containerPort: 7000,
};
