// What the fake Kubernetes API refuses, as a real API server would: an object whose fields have the
// wrong types (checked against the published schemas through kubernetes-models: 400 BadRequest),
// invalid names and label keys/values, a Deployment whose selector does not match its template's
// labels or that changes its selector (422 Invalid, with the field named).

import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import { EndpointSlice } from 'kubernetes-models/discovery.k8s.io/v1/EndpointSlice';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Event } from 'kubernetes-models/v1/Event';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { badRequest, invalid, type Json, type ResourceInfo, type StatusError } from './fake_kube_shapes.js';

/** A refusal the fake answers with its Status. */
export class KubeError extends Error {
  constructor(readonly status: StatusError) {
    super(status.body.message);
  }
}

const kModels: Record<string, new (data: Json) => { validate(): void }> = {
  deployments: Deployment,
  replicasets: ReplicaSet,
  pods: Pod,
  events: Event,
  services: Service,
  configmaps: ConfigMap,
  secrets: Secret,
  serviceaccounts: ServiceAccount,
  namespaces: Namespace,
  roles: Role,
  rolebindings: RoleBinding,
  clusterroles: ClusterRole,
  clusterrolebindings: ClusterRoleBinding,
  leases: Lease,
  endpointslices: EndpointSlice,
};

const kSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const kDnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const kLabelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const kLabelName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

type Cause = { field: string; message: string };

function checkSubdomain(field: string, value: string, causes: Cause[]): void {
  if (value.length > 253 || !kSubdomain.test(value)) {
    causes.push({
      field,
      message: `Invalid value: "${value}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    });
  }
}

function checkDnsLabel(field: string, value: string, causes: Cause[]): void {
  if (value.length > 63 || !kDnsLabel.test(value)) {
    causes.push({
      field,
      message: `Invalid value: "${value}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    });
  }
}

/** Label keys (optional DNS-subdomain prefix + name of at most 63) and values (at most 63, alphanumeric ends). */
export function checkLabels(field: string, labels: Record<string, unknown> | undefined, causes: Cause[]): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    const slash = key.indexOf('/');
    const name = slash < 0 ? key : key.slice(slash + 1);
    if (slash >= 0) checkSubdomain(field, key.slice(0, slash), causes);
    if (name.length > 63 || !kLabelName.test(name)) {
      causes.push({
        field,
        message: `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, and be at most 63 characters`,
      });
    }
    if (typeof value !== 'string')
      causes.push({ field: `${field}.${key}`, message: `Invalid value: ${JSON.stringify(value)}: a label value must be a string` });
    else if (value.length > 63) causes.push({ field, message: `Invalid value: "${value}": must be no more than 63 characters` });
    else if (!kLabelValue.test(value)) {
      causes.push({
        field,
        message: `Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
      });
    }
  }
}

function checkContainers(field: string, podSpec: Json, causes: Cause[]): void {
  const containers = podSpec?.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    causes.push({ field: `${field}.containers`, message: 'Required value' });
    return;
  }
  containers.forEach((c: Json, i: number) => {
    if (typeof c.name !== 'string' || c.name === '') causes.push({ field: `${field}.containers[${i}].name`, message: 'Required value' });
    else checkDnsLabel(`${field}.containers[${i}].name`, c.name, causes);
    if (typeof c.image !== 'string' || c.image === '') causes.push({ field: `${field}.containers[${i}].image`, message: 'Required value' });
  });
}

function checkDeployment(obj: Json, existing: Json | undefined, causes: Cause[]): void {
  const spec = obj.spec ?? {};
  const matchLabels: Record<string, string> | undefined = spec.selector?.matchLabels;
  if (matchLabels === undefined && spec.selector?.matchExpressions === undefined) {
    causes.push({ field: 'spec.selector', message: 'Required value' });
  }
  const labels: Record<string, string> = spec.template?.metadata?.labels ?? {};
  checkLabels('spec.template.metadata.labels', labels, causes);
  if (matchLabels !== undefined && Object.entries(matchLabels).some(([k, v]) => labels[k] !== v)) {
    causes.push({
      field: 'spec.template.metadata.labels',
      message: `Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``,
    });
  }
  if (existing !== undefined && JSON.stringify(existing.spec?.selector) !== JSON.stringify(spec.selector)) {
    causes.push({ field: 'spec.selector', message: `Invalid value: ${JSON.stringify(spec.selector)}: field is immutable` });
  }
  if (typeof spec.replicas === 'number' && spec.replicas < 0) {
    causes.push({ field: 'spec.replicas', message: `Invalid value: ${spec.replicas}: must be greater than or equal to 0` });
  }
  checkContainers('spec.template.spec', spec.template?.spec, causes);
}

/** Throws a KubeError (400 or 422) when a real API server would refuse to store `obj`. */
export function validateObject(info: ResourceInfo, obj: Json, existing: Json | undefined): void {
  const Model = kModels[info.resource];
  if (Model !== undefined) {
    try {
      new Model(obj).validate();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new KubeError(badRequest(`${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: ${why}`));
    }
  }
  const causes: Cause[] = [];
  const name: string = obj.metadata.name;
  if (info.resource === 'services' || info.resource === 'namespaces') checkDnsLabel('metadata.name', name, causes);
  else checkSubdomain('metadata.name', name, causes);
  checkLabels('metadata.labels', obj.metadata.labels, causes);
  if (info.resource === 'deployments') checkDeployment(obj, existing, causes);
  if (info.resource === 'pods' && existing === undefined) checkContainers('spec', obj.spec, causes);
  if (causes.length > 0) throw new KubeError(invalid(info, name, causes));
}
