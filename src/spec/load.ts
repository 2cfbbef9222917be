// Reading a spec: YAML text → zod → semantic checks against the catalog. Every problem is reported
// with the file, line, field path and a fix, all at once, so a user fixes a spec in one pass.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseAllDocuments, isMap, isSeq, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { EXIT, SpecError, UserError, type SpecIssue } from '../errors.js';
import { APP_NAMES, CapiSettings, ClusterClasses, ClusterClassEntry, ClusterSchema, LitellmModel, OllamaSettings, Stack, type Cluster } from './schema.js';
import { checkSemantics, clusterView, partsOf, type CatalogIndex, type ClusterView, type SpecParts } from './semantics.js';

export type PathKey = string | number;

export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${k}` : k;
  return out;
}

const SECRET_FIELDS = new Set(['apiKey', 'masterKey']);

/** More alias expansions than this is the shape of a "billion laughs" document, not of a spec. */
const MAX_ALIASES = 100;

/** Parses spec text; `file` is only used in messages. Throws SpecError listing every issue. */
export function parseSpec(text: string, file: string, catalog: CatalogIndex): Stack {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const at = (offset: number | undefined) => (offset === undefined ? {} : { line: lineCounter.linePos(offset).line, column: lineCounter.linePos(offset).col });

  const all = list.flatMap((d) => d.errors);
  // A parser that ran out of stack reports the same failure at every level it unwinds: say it once.
  const deep = all.find((e) => /call stack/i.test(e.message));
  const syntax = deep ? [deep] : all;
  if (syntax.length > 0) {
    throw new SpecError(
      syntax.map((e) =>
        /call stack/i.test(e.message)
          ? { file, ...at(e.pos[0]), path: '', message: 'the YAML is nested too deeply to read', fix: 'a spec is a few levels deep: look for runaway brackets or indentation around that line' }
          : {
              file,
              ...at(e.pos[0]),
              path: '',
              message: `YAML syntax error: ${e.message.split('\n')[0]}`,
              fix: 'correct the YAML at that line (indentation, a missing ":" or an unclosed quote are the usual causes)',
            },
      ),
    );
  }
  const real = list.filter((d) => d.contents !== null);
  if (real.length === 0) {
    throw new SpecError([{ file, path: '', message: 'the file is empty', fix: 'run `llmstack init` to write a starter spec' }]);
  }
  if (real.length > 1) {
    throw new SpecError([{ file, ...at(real[1]!.range[0]), path: '', message: 'the file holds more than one YAML document', fix: 'keep one Stack per file' }]);
  }
  const doc = real[0]!;
  // A list or mapping as a key (`? [a]`) has no JSON form: the YAML library would stringify it with a warning.
  let complexKey: number | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isMap(pair.key) || isSeq(pair.key)) {
        complexKey = (pair.key as Node).range?.[0] ?? 0;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  if (complexKey !== undefined) {
    throw new SpecError([{ file, ...at(complexKey), path: '', message: 'a list or mapping is used as a key', fix: 'write every key as a plain word, such as name or nodePools' }]);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    let firstAlias: number | undefined;
    visit(doc, {
      Alias(_, node) {
        firstAlias ??= node.range?.[0];
        return visit.BREAK;
      },
    });
    const aliases = e instanceof ReferenceError && /alias/i.test(e.message);
    throw new SpecError([
      aliases
        ? {
            file,
            ...at(firstAlias),
            path: '',
            message: `the YAML expands its aliases (*name) more than ${MAX_ALIASES} times, the shape of a "billion laughs" document`,
            fix: 'write the repeated values out, or refer to each anchor (&name) only a few times',
          }
        : { file, path: '', message: `the YAML cannot be read: ${e instanceof Error ? e.message : String(e)}`, fix: 'simplify the document (very deep nesting is the usual cause)' },
    ]);
  }
  const locate = (path: readonly PathKey[]) => at(nodeAt(doc, path)?.range?.[0]);

  const parsed = Stack.safeParse(raw);
  const schemaIssues = parsed.success ? [] : parsed.error.issues.map((i) => toSpecIssue(i, raw, file, locate));
  // Cross-field checks run on every part that is valid on its own, so that one pass reports all.
  const semantic = checkSemantics(parsed.success ? partsOf(parsed.data) : partsFromRaw(raw), catalog).map((i) => ({
    file,
    ...locate(i.path),
    path: formatPath(i.path),
    message: i.message,
    fix: i.fix,
  }));
  const issues = [...schemaIssues, ...semantic.filter((i) => !schemaIssues.some((s) => s.path === i.path && s.message === i.message))];
  if (issues.length > 0) {
    throw new SpecError(issues.map((i, n) => ({ i, n })).sort((a, b) => (a.i.line ?? 0) - (b.i.line ?? 0) || (a.i.column ?? 0) - (b.i.column ?? 0) || a.n - b.n).map((x) => x.i));
  }
  if (!parsed.success) throw new Error('unreachable: a failed parse reported no issue');
  return parsed.data;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A cluster as the cross-field checks see it: the parsed one, else each field that is valid on its own. */
function clusterFromRaw(raw: unknown, parsed: Cluster | undefined): ClusterView | undefined {
  if (parsed) return clusterView(parsed);
  if (!isRecord(raw)) return undefined;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  // A name the schema refuses is reported there; the cross-field checks leave it alone.
  const label = (v: unknown) => (typeof v === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) ? v : undefined);
  const pools = raw.nodePools === undefined ? [{}] : Array.isArray(raw.nodePools) ? raw.nodePools : [];
  return {
    name: label(raw.name),
    namespace: label(raw.namespace),
    class: label(raw.class),
    nodePools: pools.map((p) => {
      const pool = isRecord(p) ? p : {};
      // Taints are checked only on a pool the schema accepts: a raw list may hold anything.
      return { class: pool.class === undefined ? 'default-worker' : str(pool.class), gpu: isRecord(pool.capacity) && pool.capacity.gpu !== undefined, taints: [] };
    }),
    apps: raw.apps === undefined ? [...APP_NAMES] : Array.isArray(raw.apps) ? raw.apps.filter((a): a is string => typeof a === 'string' && a !== '') : [],
    ollamaEndpoint: isRecord(raw.ollamaEndpoint) && typeof raw.ollamaEndpoint.host === 'string' ? { host: raw.ollamaEndpoint.host } : undefined,
  };
}

/** The parts of an invalid spec that are valid on their own; `undefined` where a part is not. */
function partsFromRaw(raw: unknown): SpecParts {
  const one = <T>(schema: z.ZodType<T>, v: unknown): T | undefined => {
    const r = schema.safeParse(v);
    return r.success ? r.data : undefined;
  };
  const spec = isRecord(raw) ? (raw.spec === undefined ? {} : raw.spec) : undefined;
  if (!isRecord(spec)) return { clusters: [], litellmModels: [] };
  const apps = spec.apps === undefined ? {} : spec.apps;
  const litellm = isRecord(apps) ? (apps.litellm ?? {}) : undefined;
  return {
    capi: one(CapiSettings.prefault({}), spec.capi),
    clusterClasses:
      spec.clusterClasses === undefined ? one(ClusterClasses, undefined) : Array.isArray(spec.clusterClasses) ? spec.clusterClasses.map((c) => one(ClusterClassEntry, c)) : undefined,
    clusters: Array.isArray(spec.clusters) ? spec.clusters.map((c) => clusterFromRaw(c, one(ClusterSchema, c))) : [],
    ollama: isRecord(apps) ? one(OllamaSettings.prefault({}), apps.ollama) : undefined,
    litellmModels: isRecord(litellm) && Array.isArray(litellm.models) ? litellm.models.map((m) => one(LitellmModel, m)) : [],
  };
}

export async function loadSpec(file: string, catalog: CatalogIndex): Promise<Stack> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const fixes: Record<string, string> = {
      ENOENT: 'check the path, or run `llmstack init` to write a starter spec',
      EISDIR: `${file} is a folder: pass the spec file in it, e.g. --spec ${file.replace(/\/+$/, '')}/llmstack.yaml`,
      ENOTDIR: 'a part of the path is a file, not a folder: check the path',
      EACCES: `you may not read it: check its permissions (ls -l ${file})`,
      EPERM: `you may not read it: check its permissions (ls -l ${file})`,
    };
    throw new UserError(`${file}: cannot read the spec (${code ?? String(e)})`, EXIT.invalidInput, fixes[code ?? ''] ?? 'check that the path names a readable file');
  }
  return parseSpec(text, file, catalog);
}

/** The YAML node at a path, or the deepest existing parent, so a missing field points at its parent. */
function nodeAt(doc: Document, path: readonly PathKey[]): Node | undefined {
  let node: unknown = doc.contents;
  let last: Node | undefined = node as Node;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown })?.value === key);
      if (!pair) return last;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
    } else {
      return last;
    }
    if (node) last = node as Node;
  }
  return last;
}

function valueAt(raw: unknown, path: readonly PathKey[]): unknown {
  let v = raw;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PathKey, unknown>)[k] : undefined;
  return v;
}

function toSpecIssue(
  issue: z.core.$ZodIssue,
  raw: unknown,
  file: string,
  locate: (p: readonly PathKey[]) => { line?: number; column?: number },
): SpecIssue {
  const path = issue.path.filter((k): k is PathKey => typeof k !== 'symbol');
  const where = { file, ...locate(path), path: formatPath(path) };
  const value = valueAt(raw, path);
  const field = path[path.length - 1];

  if (typeof field === 'string' && SECRET_FIELDS.has(field) && typeof value === 'string') {
    return {
      ...where,
      message: 'a plaintext secret is refused here: it would be committed to Git',
      fix: `store it in a Kubernetes Secret (kubectl create secret generic NAME --from-literal=KEY=...) and write ${field}: {secretRef: {name: NAME, key: KEY}}`,
    };
  }
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys;
      const moved = keys.length === 1 ? MOVED_FIELDS[formatPath([...path, keys[0]!])] : undefined;
      if (moved) return { ...where, message: `"${keys[0]}" ${moved.why}`, fix: moved.fix(isRecord(value) ? value[keys[0]!] : undefined) };
      const allowed = allowedKeys(path);
      const hints = keys.map((k) => {
        const near = closest(k, allowed);
        return near ? `"${k}" → "${near}"` : `"${k}"`;
      });
      return {
        ...where,
        message: `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`,
        fix: `remove or rename ${hints.join(', ')}${allowed.length ? `; allowed here: ${allowed.join(', ')}` : ''}`,
      };
    }
    case 'invalid_type': {
      const expected = issue.expected === 'object' ? 'a mapping (key: value)' : issue.expected === 'array' ? 'a list' : article(issue.expected);
      const got = value === undefined ? 'nothing' : Array.isArray(value) ? 'a list' : value === null ? 'null' : isRecord(value) ? 'a mapping' : `a ${typeof value}`;
      if (path.length === 0) {
        return { ...where, message: `the document is ${got}, not a Stack`, fix: 'write a mapping with apiVersion, kind, metadata and spec; `llmstack init` writes one' };
      }
      if (value === undefined) {
        return { ...where, message: `required field is missing (expected ${expected})`, fix: `add ${formatPath(path)}` };
      }
      if (typeof value === 'number' && !Number.isFinite(value)) {
        return { ...where, message: `${Number.isNaN(value) ? 'not a number (.nan)' : 'the number is too large (it reads as infinity)'}`, fix: `write ${formatPath(path)} as a finite number` };
      }
      if (issue.expected === 'int' && typeof value === 'number') {
        return { ...where, message: `${value} is not a whole number`, fix: `write ${formatPath(path)} as a whole number such as ${Math.max(0, Math.round(value))}` };
      }
      return { ...where, message: `expected ${expected}, got ${got}`, fix: `write ${formatPath(path)} as ${expected}` };
    }
    case 'invalid_value':
      if (value === undefined) {
        return { ...where, message: 'required field is missing', fix: `add ${formatPath(path)}: ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}` };
      }
      return {
        ...where,
        message: `${JSON.stringify(value)} is not allowed (${issue.message.replace(/^Invalid (input|option): /, '')})`,
        fix: `use one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? `at least ${String(issue.minimum)}` : `at most ${String(issue.maximum)}`;
      const what = issue.origin === 'array' ? 'entries' : issue.origin === 'string' ? 'characters' : '';
      return {
        ...where,
        message: issue.message.startsWith('must') ? issue.message : `must be ${bound}${what ? ` ${what}` : ''}`,
        fix: `change ${formatPath(path)} to ${bound}${what ? ` ${what}` : ''}`,
      };
    }
    case 'invalid_format':
      return { ...where, message: `${JSON.stringify(value)} ${issue.message}`, fix: `change ${formatPath(path)} to ${issue.message.replace(/^must (be )?/, '')}` };
    default: {
      const fix = (issue as { params?: { fix?: string } }).params?.fix?.replaceAll('{path}', formatPath(path));
      return { ...where, message: issue.message, fix: fix ?? `correct ${formatPath(path) || 'the document'}` };
    }
  }
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** Fields an older spec had, with what replaced them: a message that says where the value goes now. */
const MOVED_FIELDS: Record<string, { why: string; fix: (old: unknown) => string }> = {
  'spec.apps.ollama.storage': {
    why: 'is now spec.apps.ollama.cache.size (the model cache has a mode: pod or shared)',
    fix: (old) => `write spec.apps.ollama.cache: {size: ${typeof old === 'string' || typeof old === 'number' ? old : '10Gi'}} instead; mode: pod, the default, is the per-pod volume storage sized`,
  },
};

/** Keys the schema allows at a path, for "did you mean" hints. */
function allowedKeys(path: readonly PathKey[]): string[] {
  let s: z.core.$ZodType | undefined = Stack;
  const unwrap = (t: z.core.$ZodType | undefined): z.core.$ZodType | undefined => {
    let cur = t;
    for (let i = 0; cur && i < 10; i++) {
      const def = cur._zod.def as unknown as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
      if (def.innerType) cur = def.innerType;
      else if (def.type === 'pipe' && def.in) cur = def.in;
      else break;
    }
    return cur;
  };
  for (const key of path) {
    s = unwrap(s);
    const def = s?._zod.def as unknown as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType };
    if (def?.type === 'object' && typeof key === 'string') s = def.shape?.[key];
    else if (def?.type === 'array' && typeof key === 'number') s = def.element;
    else return [];
  }
  const def = unwrap(s)?._zod.def as unknown as { type: string; shape?: Record<string, unknown> };
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestScore) [best, bestScore] = [c, d];
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
