// `llmstack diff`: what generate would change, per file and per object, as JSON-patch operations.
import jsonpatch from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { inspect, withCheckout } from '../gitops/repo.js';
import { renderStack } from '../render/index.js';
import { formatOutput, gitAuthFromEnv, loadInputs, pushRemote, type SpecOptions } from './common.js';

export interface DiffOptions extends SpecOptions {
  out?: string;
  remote?: string;
  output?: 'text' | 'json' | 'yaml';
}

interface ObjectDiff {
  object: string;
  change: 'added' | 'removed' | 'changed';
  ops?: jsonpatch.Operation[];
}

export interface FileDiff {
  path: string;
  change: 'added' | 'updated' | 'deleted';
  objects: ObjectDiff[];
}

function objectsByKey(text: string | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!text) return out;
  const docs = parseAllDocuments(text) as unknown as { toJS(o?: object): unknown }[];
  docs.forEach((d, i) => {
    let o: { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
    try {
      o = d.toJS({ maxAliasCount: 100 }) as typeof o;
    } catch {
      // A file edited into something unreadable (an alias bomb, say) is still shown as changed, whole.
      return;
    }
    if (!o || typeof o !== 'object') return;
    const key = o.kind && o.metadata?.name ? `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}` : `document ${i + 1}`;
    out.set(key, o);
  });
  return out;
}

export function diffFile(path: string, before: string | undefined, after: string | undefined): FileDiff {
  const change = before === undefined ? 'added' : after === undefined ? 'deleted' : 'updated';
  const objects: ObjectDiff[] = [];
  if (/\.ya?ml$/.test(path)) {
    const a = objectsByKey(before);
    const b = objectsByKey(after);
    for (const [k, v] of b) {
      if (!a.has(k)) objects.push({ object: k, change: 'added' });
      else {
        const ops = jsonpatch.compare(a.get(k) as object, v as object);
        if (ops.length) objects.push({ object: k, change: 'changed', ops });
      }
    }
    for (const k of a.keys()) if (!b.has(k)) objects.push({ object: k, change: 'removed' });
  }
  return { path, change, objects };
}

function fmt(v: unknown): string {
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export async function diffCommand(o: DiffOptions, print: (s: string) => void, note: (s: string) => void): Promise<FileDiff[]> {
  const { stack, catalog } = await loadInputs(o, note);
  const git = stack.spec.git;
  const base = git.path ?? '';
  const files = renderStack(stack, catalog).files;
  const remote = pushRemote(o.remote, git.url);
  const target = { dir: o.out ?? (remote ? undefined : 'gitops'), url: remote, branch: git.branch, base, auth: gitAuthFromEnv() };
  const diffs = await withCheckout(target, async (dir) => {
    if (!dir) {
      return files.map((f) => diffFile(base ? `${base}/${f.path}` : f.path, undefined, f.content));
    }
    const { plan, current } = await inspect(dir, stack.metadata.name, base, files);
    const byPath = new Map(plan.writes.map((w) => [w.path, w.content]));
    return [
      ...plan.add.map((p) => diffFile(p, undefined, byPath.get(p))),
      ...plan.update.map((p) => diffFile(p, current.get(p), byPath.get(p))),
      ...plan.delete.map((p) => diffFile(p, current.get(p), undefined)),
    ].sort((a, b) => (a.path < b.path ? -1 : 1));
  });
  if (o.output === 'json' || o.output === 'yaml') {
    print(formatOutput(diffs, o.output));
    return diffs;
  }
  if (diffs.length === 0) print('no differences');
  for (const d of diffs) {
    print(`${d.change === 'added' ? '+' : d.change === 'deleted' ? '-' : '~'} ${d.path}`);
    for (const ob of d.objects) {
      print(`    ${ob.change === 'added' ? '+' : ob.change === 'removed' ? '-' : '~'} ${ob.object}`);
      for (const op of ob.ops ?? []) {
        print(`        ${op.op} ${op.path}${'value' in op ? ` = ${fmt(op.value)}` : ''}`);
      }
    }
  }
  return diffs;
}
