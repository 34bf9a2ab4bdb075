// Label and field selectors for the fake Kubernetes API: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
// `a notin (x,y)`, `a` (exists) and `!a` (does not exist), joined by commas; a field selector names a
// dotted path (`metadata.name`, `status.phase`, `involvedObject.name`) instead of a label.

import type { Json } from './fake_kube_shapes.js';

interface Requirement {
  key: string;
  op: 'eq' | 'ne' | 'in' | 'notin' | 'exists' | 'notexists';
  values: string[];
}

export type Selector = Requirement[];

/** Splits at commas outside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

/** Parses a selector; throws an Error naming the bad term (the fake answers 400 with it). */
export function parseSelector(text: string | null): Selector {
  if (text === null || text.trim() === '') return [];
  return terms(text).map((term): Requirement => {
    const set = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set !== null) {
      const values = set[3]!.split(',').map((v) => v.trim());
      return { key: set[1]!, op: set[2] === 'in' ? 'in' : 'notin', values };
    }
    const cmp = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term);
    if (cmp !== null) return { key: cmp[1]!, op: cmp[2] === '!=' ? 'ne' : 'eq', values: [cmp[3]!] };
    const exists = /^(!?)([^\s!=(),]+)$/.exec(term);
    if (exists !== null) return { key: exists[2]!, op: exists[1] === '!' ? 'notexists' : 'exists', values: [] };
    throw new Error(`unable to parse requirement: found '${term}'`);
  });
}

function holds(req: Requirement, value: string | undefined): boolean {
  switch (req.op) {
    case 'eq':
      return value === req.values[0];
    case 'ne':
      return value !== req.values[0];
    case 'in':
      return value !== undefined && req.values.includes(value);
    case 'notin':
      return value === undefined || !req.values.includes(value);
    case 'exists':
      return value !== undefined;
    case 'notexists':
      return value === undefined;
  }
}

export function matchesLabels(selector: Selector, obj: Json): boolean {
  const labels: Record<string, string> = obj?.metadata?.labels ?? {};
  return selector.every((req) => holds(req, Object.hasOwn(labels, req.key) ? labels[req.key] : undefined));
}

/** Field selectors compare the string form of the value at a dotted path ('' when it is absent, as the API server does). */
export function matchesFields(selector: Selector, obj: Json): boolean {
  return selector.every((req) => {
    let value: Json = obj;
    for (const part of req.key.split('.')) value = value === undefined || value === null ? undefined : value[part];
    return holds(req, value === undefined || value === null ? '' : String(value));
  });
}

/** Turns `{ a: 'b', c: 'd' }` into 'a=b,c=d' (a Deployment's matchLabels as a selector string). */
export function selectorString(matchLabels: Record<string, string> | undefined): string {
  return Object.entries(matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
