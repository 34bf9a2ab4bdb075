// The URL layout of the fake Kubernetes API (fake_kube_api.ts): which resource, namespace, name and
// subresource a path names (core `/api/v1/...` and group `/apis/GROUP/VERSION/...`, namespaced or not),
// the discovery documents, and the RBAC verb of a request.

import { apiResourceList, groupVersion, kResources, type Json, type ResourceInfo } from './fake_kube_shapes.js';

export interface Route {
  info: ResourceInfo;
  namespace: string | undefined;
  name: string | undefined;
  sub: string | undefined;
}

/** The path of a resource request, or a discovery document, or undefined (404). */
export function route(pathname: string): Route | { discovery: Json } | undefined {
  const parts = pathname.split('/').filter((p) => p !== '');
  let gv: string;
  let rest: string[];
  if (parts[0] === 'api') {
    if (parts.length === 1) return { discovery: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] } };
    gv = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    if (parts.length === 1) return { discovery: apiGroupList() };
    if (parts.length === 2) return { discovery: apiGroupList().groups.find((g: Json) => g.name === parts[1]) };
    gv = `${parts[1]}/${parts[2]}`;
    rest = parts.slice(3);
  } else if (pathname === '/version') {
    return { discovery: { major: '1', minor: '30', gitVersion: 'v1.30.0', platform: 'linux/amd64' } };
  } else {
    return undefined;
  }
  if (rest.length === 0) {
    const doc = apiResourceList(gv);
    return doc === undefined ? undefined : { discovery: doc };
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const info = kResources.find((r) => r.resource === rest[0] && groupVersion(r) === gv);
  if (info === undefined || rest.length > 3) return undefined;
  if (info.namespaced && namespace === undefined && rest.length > 1) return undefined;
  if (!info.namespaced && namespace !== undefined) return undefined;
  return { info, namespace, name: rest[1], sub: rest[2] };
}

function apiGroupList(): Json {
  const groups = [...new Set(kResources.filter((r) => r.group !== '').map((r) => r.group))];
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((name) => {
      const version = { groupVersion: `${name}/v1`, version: 'v1' };
      return { name, versions: [version], preferredVersion: version };
    }),
  };
}

/** The RBAC verb of a request (what a 403 names). */
export function verbOf(method: string, r: Route, watch: boolean): string {
  switch (method) {
    case 'GET':
      return r.name !== undefined ? 'get' : watch ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return r.name !== undefined ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}
