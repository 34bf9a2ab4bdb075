// The Deployment that runs one model version's replicas, as a pure function of its record and the
// cluster's Kubernetes options: what the manager creates, compares and restores, and what tests
// validate offline against the Kubernetes schema. Pods listen on the replica port; the frontends'
// batching workers dial them there (containers/PROTOCOL.md), so no Service is needed per model.

import { createHash } from 'node:crypto';
import type { V1Container, V1Deployment, V1EnvVar, V1PodTemplateSpec } from '@kubernetes/client-node';
import { ClipperError } from '../../errors.js';
import type { ModelRecord } from '../../state/records.js';
import {
  commonLabels,
  deploymentNameOf,
  kAnnotationModelName,
  kAnnotationModelVersion,
  kLabelSpec,
  modelSelectorLabels,
} from './labels.js';

export interface KubeDeployOptions {
  clusterName: string;
  namespace: string;
  /** Where `clipper build --registry` pushed `<model>:<version>` (host:port); '' = none. */
  registry: string;
  /** The port a replica listens on in its pod (a `clipper build` image: 7000). */
  containerPort: number;
  /** Secrets the kubelet pulls images with. */
  imagePullSecrets: readonly string[];
  /** The Secret whose key `secret` holds the cluster's replica secret (hex); null when replica auth is off. */
  replicaSecretName: string | null;
}

/** The file the runner touches while alive (`--alive-file` of a `clipper build` image). */
const kAliveFile = '/tmp/clipper_alive';
const kHealthStamp = '/tmp/clipper_hc';
/** The Secret key holding the replica secret. */
export const kReplicaSecretKey = 'secret';
export const kContainerName = 'model';

/**
 * The image a model version runs: its `container.image`, else `<registry>/<model>:<version>` as
 * `clipper build --registry` pushed it. Throws CLP_ERR_INVALID_ARG when there is neither.
 */
export function imageOf(model: ModelRecord, o: Pick<KubeDeployOptions, 'registry'>): string {
  const image = model.container?.image;
  if (image !== undefined) return image;
  if (o.registry === '') {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `model ${model.model_name}:${model.model_version} names no container.image and the cluster has no kubernetesRegistry: ` +
        `build and push its image with \`clipper build --name ${model.model_name} --version ${model.model_version} ` +
        '--registry HOST:PORT ...` and start the frontends with --kubernetes-registry HOST:PORT, or give "container": {"image": ...}',
    );
  }
  return `${o.registry.replace(/\/+$/, '')}/${model.model_name}:${model.model_version}`;
}

function envOf(model: ModelRecord, o: KubeDeployOptions): V1EnvVar[] {
  const env: V1EnvVar[] = [
    { name: 'CLIPPER_MODEL_NAME', value: model.model_name },
    { name: 'CLIPPER_MODEL_VERSION', value: model.model_version },
    { name: 'CLIPPER_INPUT_TYPE', value: model.input_type },
  ];
  // No CLIPPER_REPLICA_ID: a pod signs for whatever replica id a frontend gives it.
  if (o.replicaSecretName !== null) {
    env.push({ name: 'CLIPPER_REPLICA_SECRET', valueFrom: { secretKeyRef: { name: o.replicaSecretName, key: kReplicaSecretKey } } });
  }
  return env;
}

function containerOf(model: ModelRecord, o: KubeDeployOptions): V1Container {
  const spec = model.container ?? {};
  const limits: Record<string, string> = {};
  if (spec.cpus !== undefined) limits.cpu = `${Math.max(1, Math.round(spec.cpus * 1000))}m`;
  if (spec.memory_mb !== undefined) limits.memory = `${spec.memory_mb}Mi`;
  return {
    name: kContainerName,
    image: imageOf(model, o),
    // The image's own command runs the runner (a `clipper build` image: on port 7000, touching the alive file).
    ports: [{ name: 'clipper', containerPort: o.containerPort, protocol: 'TCP' }],
    env: envOf(model, o),
    // Ready once the runner listens; a pod that stops listening leaves every frontend's replica set.
    readinessProbe: { tcpSocket: { port: o.containerPort }, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2 },
    // The image HEALTHCHECK's test (containers/docker/model_context.ts): the runner touches the file while its loop runs.
    livenessProbe: {
      exec: {
        command: [
          '/bin/sh',
          '-c',
          `if [ -e ${kHealthStamp} ]; then [ ${kAliveFile} -nt ${kHealthStamp} ]; else [ -e ${kAliveFile} ]; fi; r=$?; : > ${kHealthStamp}; exit $r`,
        ],
      },
      initialDelaySeconds: 30,
      periodSeconds: 5,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    ...(Object.keys(limits).length > 0 ? { resources: { requests: { ...limits }, limits } } : {}),
  };
}

function templateOf(model: ModelRecord, o: KubeDeployOptions): V1PodTemplateSpec {
  return {
    metadata: {
      labels: {
        ...commonLabels(o.clusterName, 'model-replica'),
        ...modelSelectorLabels(o.clusterName, model.model_name, model.model_version),
      },
      annotations: { [kAnnotationModelName]: model.model_name, [kAnnotationModelVersion]: model.model_version },
    },
    spec: {
      containers: [containerOf(model, o)],
      ...(o.imagePullSecrets.length > 0 ? { imagePullSecrets: o.imagePullSecrets.map((name) => ({ name })) } : {}),
      // The runner drains on SIGTERM; the frontends drop the pod as soon as it is terminating.
      terminationGracePeriodSeconds: 10,
      // A model's code gets no API credentials, and no `<SERVICE>_PORT=tcp://...` variables that a
      // model (or a runner reading CLIPPER_* variables) could mistake for its own settings.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
    },
  };
}

/** A hash of everything in a model version's pod template: a change means new pods. */
export function specHashOf(model: ModelRecord, o: KubeDeployOptions): string {
  return createHash('sha256')
    .update(JSON.stringify(templateOf(model, o)))
    .digest('hex')
    .slice(0, 16);
}

/** The Deployment of a model version (num_replicas replicas). Throws CLP_ERR_INVALID_ARG when it has no image. */
export function deploymentOf(model: ModelRecord, o: KubeDeployOptions): V1Deployment {
  const template = templateOf(model, o);
  template.metadata!.labels![kLabelSpec] = specHashOf(model, o);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: deploymentNameOf(o.clusterName, model.model_name, model.model_version),
      namespace: o.namespace,
      labels: {
        ...commonLabels(o.clusterName, 'model-replica'),
        ...modelSelectorLabels(o.clusterName, model.model_name, model.model_version),
      },
      annotations: { [kAnnotationModelName]: model.model_name, [kAnnotationModelVersion]: model.model_version },
    },
    spec: {
      replicas: model.num_replicas,
      selector: { matchLabels: modelSelectorLabels(o.clusterName, model.model_name, model.model_version) },
      template,
    },
  };
}

/** The spec hash a Deployment's pod template carries (undefined when it has none). */
export function specHashOfDeployment(d: V1Deployment): string | undefined {
  return d.spec?.template.metadata?.labels?.[kLabelSpec];
}
