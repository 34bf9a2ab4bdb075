// The label keys, annotation keys and name rules shared by everything that makes Kubernetes objects
// for a cluster (the container manager, `clipper k8s manifests`): one place, so the manager's watch
// selects exactly the pods the manifests and Deployments label.

import { createHash } from 'node:crypto';

export const kLabelCluster = 'clipper.ai/cluster';
export const kLabelModel = 'clipper.ai/model';
export const kLabelVersion = 'clipper.ai/version';
/** The hash of a model replica's pod template (deployment_spec.ts specHashOf): pods of the current spec carry it. */
export const kLabelSpec = 'clipper.ai/spec';
export const kLabelComponent = 'app.kubernetes.io/component';
export const kLabelManagedBy = 'app.kubernetes.io/managed-by';
export const kLabelPartOf = 'app.kubernetes.io/part-of';
/** Label values are restricted (labelValue); these keep a model's exact name and version. */
export const kAnnotationModelName = 'clipper.ai/model-name';
export const kAnnotationModelVersion = 'clipper.ai/model-version';

export type Component = 'model-replica' | 'frontend' | 'redis';

const kNameLengthMax = 63;
const kHashChars = 8;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, kHashChars);
}

const kLabelValuePattern = /^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

/** RFC 1123 names, as the API server checks them: a label (namespaces, most object names) and a subdomain (Secrets). */
export const kDns1123Label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const kDns1123Subdomain = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * `s` as a label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends. A value
 * that had to change gets a hash of the original as a suffix, so two names never share a value.
 */
export function labelValue(s: string): string {
  if (s.length <= kNameLengthMax && kLabelValuePattern.test(s)) return s;
  const body = s
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, kNameLengthMax - kHashChars - 1)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return body === '' ? shortHash(s) : `${body}-${shortHash(s)}`;
}

/**
 * An RFC 1123 label made of `parts` joined by '-': lower-case [a-z0-9-], alphanumeric at both ends,
 * at most 63 characters. A name that had to change (case, characters, length) gets a hash of the
 * parts as a suffix, so distinct parts never give the same name.
 */
export function dnsName(...parts: string[]): string {
  const joined = parts.join('-');
  if (kDns1123Label.test(joined)) return joined;
  const body = joined
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, kNameLengthMax - kHashChars - 1)
    .replace(/^-+|-+$/g, '');
  const hash = shortHash(JSON.stringify(parts));
  return body === '' ? hash : `${body}-${hash}`;
}

/** The Deployment that runs a model version's replicas. */
export function deploymentNameOf(cluster: string, model: string, version: string): string {
  return dnsName('clipper', cluster, model, version);
}

/** The labels every object of a cluster carries. */
export function commonLabels(cluster: string, component: Component): Record<string, string> {
  return {
    [kLabelCluster]: labelValue(cluster),
    [kLabelComponent]: component,
    [kLabelManagedBy]: 'clipper',
    [kLabelPartOf]: labelValue(`clipper-${cluster}`),
  };
}

/** The labels that select one model version's pods (a Deployment's selector: they never change). */
export function modelSelectorLabels(cluster: string, model: string, version: string): Record<string, string> {
  return {
    [kLabelCluster]: labelValue(cluster),
    [kLabelComponent]: 'model-replica',
    [kLabelModel]: labelValue(model),
    [kLabelVersion]: labelValue(version),
  };
}

/** A label selector string (`k=v,k2=v2`) from labels. */
export function selectorOf(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The pods and Deployments of a cluster's model replicas. */
export function replicaSelectorOf(cluster: string): string {
  return selectorOf({ [kLabelCluster]: labelValue(cluster), [kLabelComponent]: 'model-replica' });
}
