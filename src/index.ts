// The public API of the `clipper-ts` package (`import { Cluster } from 'clipper-ts'`). A deliberate
// list: what an embedding program or a client needs, and nothing of the query path's internals.
//
//   const cluster = await Cluster.start({ config: { queryPort: 1337, adminPort: 1338 }, startAdmin: startAdminServer });
//   const conn = new ClipperConnection({ adminUrl: 'http://127.0.0.1:1338', queryUrl: 'http://127.0.0.1:1337' });

// The serving cluster and its configuration.
export { Cluster, type ClusterOptions } from './cluster.js';
export { kDefaultConfig, resolveConfig, type ClipperConfig } from './config.js';
export { startAdminServer, type AdminServer, type AdminServerOptions } from './admin/admin_server.js';
export type { AdminContext, ReplicaStatus } from './admin/admin_context.js';

// The TypeScript client of a running cluster (clipper_admin's ClipperConnection).
export {
  ClipperClientError,
  ClipperConnection,
  type AppInfo,
  type BatchPredictResult,
  type ConnectionOptions,
  type ContainerInfo,
  type DeployModelParams,
  type FeedbackResult,
  type ModelInfo,
  type PredictOptions,
  type PredictResult,
  type RegisterApplicationParams,
  type ReplicaLogsInfo,
} from './client/admin_client.js';

// Errors: every error a user can see has a stable code.
export { ClipperError, kErrors, type ErrorCode, type ErrorSpec } from './errors.js';

// Where replicas run.
export type {
  ContainerManager,
  ContainerManagerEvents,
  ManagerKind,
  ReplicaEndpoint,
  ReplicaInfo,
  ReplicaLogs,
} from './containers/container_manager.js';

// Input types of apps and models.
export { kInputTypes, parseInputType, type InputType } from './input_types.js';

// Cluster state (apps, models, versions): the store interface, its records and the stores.
export type { StateChange, StateListener, StateStore } from './state/state_store.js';
export type { AppRecord, ContainerSpec, ModelRecord, StateSnapshot } from './state/records.js';
export { createStateStore } from './state/open_store.js';
export { MemoryStateStore } from './state/memory_store.js';
export { RedisStateStore, type RedisStateStoreOptions } from './state/redis_store.js';
