// What a replica's container is: its create options (image, environment, labels, limits, a port
// published on loopback only), the hash of its spec that decides adoption, and where it listens.

import type Docker from 'dockerode';
import { createHash, randomBytes } from 'node:crypto';
import type { ModelRecord } from '../../state/records.js';
import { kLabelCluster, kLabelModel, kLabelReplica, kLabelSpec, kLabelVersion } from './engine.js';

/** A hash of what a replica runs: a container whose spec differs is replaced rather than adopted. */
export function replicaSpecHash(model: ModelRecord, secretHex = ''): string {
  const c = model.container;
  const spec = { container: c, input_type: model.input_type, container_name: c?.image === undefined ? null : model.container_name };
  // A container given another replica secret (an earlier start's) could not authenticate: not adopted.
  const secretTag = secretHex === '' ? '' : createHash('sha256').update(`replica-secret:${secretHex}`).digest('hex');
  return createHash('sha256').update(JSON.stringify(spec)).update(secretTag).digest('hex').slice(0, 16);
}

/** Overrides of the image's health check timing (its test command stays); absent fields keep the image's. */
export interface HealthTiming {
  intervalMs?: number;
  timeoutMs?: number;
  startPeriodMs?: number;
  retries?: number;
}

function healthcheckOf(timing: HealthTiming | undefined): Docker.ContainerCreateOptions['Healthcheck'] | undefined {
  if (timing === undefined) return undefined;
  const ns = (ms: number | undefined): number => (ms === undefined ? 0 : Math.round(ms * 1e6)); // 0: the image's
  return {
    Interval: ns(timing.intervalMs),
    Timeout: ns(timing.timeoutMs),
    StartPeriod: ns(timing.startPeriodMs),
    Retries: timing.retries ?? 0,
  };
}

export function containerCreateOptions(
  m: ModelRecord,
  replicaId: number,
  image: string,
  clusterName: string,
  containerPort: number,
  health?: HealthTiming,
  replicaSecretHex = '',
): Docker.ContainerCreateOptions {
  const healthcheck = healthcheckOf(health);
  const spec = m.container ?? {};
  const port = `${containerPort}/tcp`;
  const name = `clipper-${clusterName}-${m.model_name}-${m.model_version}-${replicaId}-${randomBytes(3).toString('hex')}`.replace(
    /[^a-zA-Z0-9_.-]/g,
    '-',
  );
  return {
    name,
    Image: image,
    Env: [
      `CLIPPER_MODEL_NAME=${m.model_name}`,
      `CLIPPER_MODEL_VERSION=${m.model_version}`,
      `CLIPPER_INPUT_TYPE=${m.input_type}`,
      `CLIPPER_REPLICA_ID=${replicaId}`,
      ...(replicaSecretHex === '' ? [] : [`CLIPPER_REPLICA_SECRET=${replicaSecretHex}`]),
    ],
    Labels: {
      [kLabelCluster]: clusterName,
      [kLabelModel]: m.model_name,
      [kLabelVersion]: m.model_version,
      [kLabelReplica]: String(replicaId),
      [kLabelSpec]: replicaSpecHash(m, replicaSecretHex),
    },
    ExposedPorts: { [port]: {} },
    ...(healthcheck !== undefined ? { Healthcheck: healthcheck } : {}),
    HostConfig: {
      // Published on loopback only: the frontend dials 127.0.0.1:<port>; nothing else can.
      PortBindings: { [port]: [{ HostIp: '127.0.0.1', HostPort: '' }] },
      RestartPolicy: { Name: 'no' },
      ...(spec.cpus !== undefined ? { NanoCpus: Math.round(spec.cpus * 1e9) } : {}),
      ...(spec.memory_mb !== undefined ? { Memory: spec.memory_mb * 1024 * 1024 } : {}),
    },
  };
}

/** The host port a container publishes `containerPort` on, on 127.0.0.1 (null if none yet). */
export function publishedPort(inspect: Docker.ContainerInspectInfo, containerPort: number): number | null {
  const bindings = inspect.NetworkSettings?.Ports?.[`${containerPort}/tcp`];
  const binding = bindings?.find((b) => b.HostIp === '127.0.0.1') ?? null;
  const port = binding === null ? NaN : Number(binding.HostPort);
  return Number.isInteger(port) && port > 0 ? port : null;
}

/** A replica's health from the engine's status text of its container ("Up 5 minutes (healthy)"). */
export function healthOf(status: string): 'healthy' | 'unhealthy' | 'starting' | 'none' {
  if (/\(unhealthy\)/.test(status)) return 'unhealthy';
  if (/\(healthy\)/.test(status)) return 'healthy';
  return /health: starting/.test(status) ? 'starting' : 'none';
}
