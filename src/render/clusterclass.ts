// A catalog ClusterClass and its templates, renamed to the spec's class name and placed in a
// namespace. Every object name in a catalog file starts with the ClusterClass name, so renaming is a
// prefix swap on names and on the refs that point at them.
import type { ClusterClassEntry, KubeObject } from '../catalog/types.js';
import { LABEL, MANAGED_BY } from './labels.js';

export function renderClusterClass(entry: ClusterClassEntry, name: string, namespace: string, stack: string): KubeObject[] {
  const rename = (s: string) => (s === entry.baseName || s.startsWith(`${entry.baseName}-`) ? name + s.slice(entry.baseName.length) : s);
  return entry.objects.map((o) => {
    const copy = renameRefs(structuredClone(o), rename) as KubeObject;
    copy.metadata = {
      ...copy.metadata,
      name: rename(o.metadata.name),
      namespace,
      labels: { ...o.metadata.labels, [LABEL.stack]: stack, [LABEL.managedBy]: MANAGED_BY },
    };
    return copy;
  });
}

/** Rewrites `name` fields of refs (objects with a kind or under a *Ref/ref key) that point into the class. */
function renameRefs(value: unknown, rename: (s: string) => string, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => renameRefs(v, rename));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const isRef = /ref$/i.test(key);
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'metadata') continue;
    if (k === 'name' && isRef && typeof v === 'string') obj[k] = rename(v);
    else obj[k] = renameRefs(v, rename, k);
  }
  return obj;
}
