// What a generate would change in a working copy: pure, from the rendered files, the files there
// now and the list of files llmstack wrote last time (so a user's own files are never touched).
import type { RenderedFile } from '../render/index.js';

export const OWNED_FILE = '.llmstack/owned.json';

export interface OwnedList {
  stack: string;
  files: string[];
}

export interface Plan {
  add: string[];
  update: string[];
  delete: string[];
  /** Full content of every file to write (add + update + the owned list). */
  writes: RenderedFile[];
  /** Files llmstack would write that exist and are not llmstack's: generate refuses to clobber them. */
  conflicts: string[];
}

export function isEmpty(plan: Plan): boolean {
  return plan.add.length === 0 && plan.update.length === 0 && plan.delete.length === 0;
}

export function ownedListContent(stack: string, files: string[]): string {
  return `${JSON.stringify({ stack, files: [...files].sort() } satisfies OwnedList, null, 2)}\n`;
}

/**
 * @param desired rendered files, paths relative to the repo root
 * @param current content of the repo's files at those paths and at previously owned paths (undefined: absent)
 * @param owned previously owned paths (relative to the repo root), empty for a first run
 * @param ownedPath path of the owned list relative to the repo root
 */
export function computePlan(
  stack: string,
  desired: readonly RenderedFile[],
  current: ReadonlyMap<string, string | undefined>,
  owned: readonly string[],
  ownedPath: string,
): Plan {
  const ownedSet = new Set(owned);
  const want = new Set(desired.map((f) => f.path));
  const plan: Plan = { add: [], update: [], delete: [], writes: [], conflicts: [] };
  for (const f of desired) {
    const now = current.get(f.path);
    if (now === undefined) {
      plan.add.push(f.path);
      plan.writes.push(f);
    } else if (now !== f.content) {
      if (!ownedSet.has(f.path)) plan.conflicts.push(f.path);
      plan.update.push(f.path);
      plan.writes.push(f);
    }
    // Same bytes already there: nothing to write, and the file is adopted into the owned list.
  }
  for (const p of [...ownedSet].sort()) {
    if (!want.has(p) && current.get(p) !== undefined) plan.delete.push(p);
  }
  const ownedText = ownedListContent(stack, [...want]);
  const before = current.get(ownedPath);
  if (before !== ownedText && (desired.length > 0 || before !== undefined)) {
    (before === undefined ? plan.add : plan.update).push(ownedPath);
    plan.writes.push({ path: ownedPath, content: ownedText });
  }
  plan.add.sort();
  plan.update.sort();
  return plan;
}

/** Groups changed paths into units a reviewer thinks in: clusters, bundles, ClusterClasses. */
export function describeChanges(plan: Plan, base: string): string[] {
  const strip = (p: string) => (base && p.startsWith(`${base}/`) ? p.slice(base.length + 1) : p);
  const units = new Map<string, { added: string[]; updated: string[]; deleted: string[] }>();
  const unitOf = (p: string): [string, string] => {
    const parts = strip(p).split('/');
    if (parts[0] === 'management' && parts[1] === 'clusters') return [`cluster ${parts[2]}/${parts[3]}`, parts.slice(4).join('/')];
    if (parts[0] === 'management' && parts[1] === 'clusterclasses') return [`clusterclass ${parts[2]}/${parts[3]}`, parts.slice(4).join('/')];
    if (parts[0] === 'bundles') return [`bundle ${parts[1]}`, parts.slice(2).join('/')];
    if (parts[0] === 'bootstrap') return ['bootstrap', parts.slice(1).join('/')];
    return ['llmstack', parts.join('/')];
  };
  const add = (kind: 'added' | 'updated' | 'deleted', paths: string[]) => {
    for (const p of paths) {
      const [unit, file] = unitOf(p);
      if (unit === 'llmstack') continue;
      const u = units.get(unit) ?? { added: [], updated: [], deleted: [] };
      u[kind].push(file);
      units.set(unit, u);
    }
  };
  add('added', plan.add);
  add('updated', plan.update);
  add('deleted', plan.delete);
  return [...units.keys()].sort().map((unit) => {
    const u = units.get(unit)!;
    const parts = [];
    if (u.added.length) parts.push(`added ${u.added.join(', ')}`);
    if (u.updated.length) parts.push(`updated ${u.updated.join(', ')}`);
    if (u.deleted.length) parts.push(`deleted ${u.deleted.join(', ')}`);
    return `${unit}: ${parts.join('; ')}`;
  });
}
