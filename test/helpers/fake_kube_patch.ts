// The patch formats the fake Kubernetes API accepts: JSON merge patch (RFC 7386; strategic merge
// patch is treated the same), JSON patch (RFC 6902, what client-node's typed patch methods send by
// default) and server-side apply (create-or-merge of the applied object).

import type { Json } from './fake_kube_shapes.js';

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** RFC 7386: objects merge key by key, null deletes a key, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: Json = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** Server-side apply, simplified: the applied fields are merged over the live object (lists replaced). */
export function applyMerge(target: Json, applied: Json): Json {
  if (!isObject(applied)) return clone(applied);
  const out: Json = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(applied)) out[key] = applyMerge(out[key], value);
  return out;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`JSON pointer '${pointer}' must start with '/'`);
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, parts: string[], pointer: string): { parent: Json; key: string } {
  let node = doc;
  for (const part of parts.slice(0, -1)) {
    node = Array.isArray(node) ? node[Number(part)] : isObject(node) ? node[part] : undefined;
    if (node === undefined) throw new Error(`the path '${pointer}' does not exist`);
  }
  return { parent: node, key: parts[parts.length - 1]! };
}

function getAt(doc: Json, pointer: string): Json {
  let node = doc;
  for (const part of decodePointer(pointer)) {
    node = Array.isArray(node) ? node[Number(part)] : isObject(node) ? node[part] : undefined;
    if (node === undefined) throw new Error(`the path '${pointer}' does not exist`);
  }
  return node;
}

function removeAt(doc: Json, pointer: string): Json {
  const { parent, key } = parentOf(doc, decodePointer(pointer), pointer);
  if (Array.isArray(parent)) return parent.splice(Number(key), 1)[0];
  if (!isObject(parent) || !(key in parent))
    throw new Error(`unable to remove nonexistent key: ${key}; error: the path '${pointer}' does not exist`);
  const old = parent[key];
  delete parent[key];
  return old;
}

function addAt(doc: Json, pointer: string, value: Json, replace: boolean): Json {
  const parts = decodePointer(pointer);
  if (parts.length === 0) return value;
  const { parent, key } = parentOf(doc, parts, pointer);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (replace) parent[index] = value;
    else parent.splice(index, 0, value);
  } else if (isObject(parent)) {
    if (replace && !(key in parent)) throw new Error(`replace operation does not apply: doc is missing key: ${pointer}`);
    parent[key] = value;
  } else {
    throw new Error(`the path '${pointer}' does not exist`);
  }
  return doc;
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test. */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new Error('a JSON patch must be an array of operations');
  let doc = clone(target);
  for (const op of ops) {
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, clone(op.value), false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, clone(op.value), true);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'move':
        doc = addAt(doc, op.path, removeAt(doc, op.from), false);
        break;
      case 'copy':
        doc = addAt(doc, op.path, clone(getAt(doc, op.from)), false);
        break;
      case 'test':
        if (JSON.stringify(getAt(doc, op.path)) !== JSON.stringify(op.value)) throw new Error(`testing value ${op.path} failed`);
        break;
      default:
        throw new Error(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}
