// Reading a spec: YAML text → zod → semantic checks against the catalog. Every problem is reported
// with the file, line, field path and a fix, all at once, so a user fixes a spec in one pass.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseAllDocuments, isMap, isSeq, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { EXIT, SpecError, UserError, type SpecIssue } from '../errors.js';
import { Stack } from './schema.js';
import { checkSemantics, type CatalogIndex } from './semantics.js';

export type PathKey = string | number;

export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${k}` : k;
  return out;
}

const SECRET_FIELDS = new Set(['apiKey', 'masterKey']);

/** Parses spec text; `file` is only used in messages. Throws SpecError listing every issue. */
export function parseSpec(text: string, file: string, catalog: CatalogIndex): Stack {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const at = (offset: number | undefined) => (offset === undefined ? {} : { line: lineCounter.linePos(offset).line, column: lineCounter.linePos(offset).col });

  const syntax = list.flatMap((d) => d.errors);
  if (syntax.length > 0) {
    throw new SpecError(
      syntax.map((e) => ({
        file,
        ...at(e.pos[0]),
        path: '',
        message: `YAML syntax error: ${e.message.split('\n')[0]}`,
        fix: 'correct the YAML at that line (indentation, a missing ":" or an unclosed quote are the usual causes)',
      })),
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
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const locate = (path: readonly PathKey[]) => at(nodeAt(doc, path)?.range?.[0]);

  const parsed = Stack.safeParse(raw);
  if (!parsed.success) {
    throw new SpecError(parsed.error.issues.map((i) => toSpecIssue(i, raw, file, locate)));
  }
  const semantic = checkSemantics(parsed.data, catalog);
  if (semantic.length > 0) {
    throw new SpecError(semantic.map((i) => ({ file, ...locate(i.path), path: formatPath(i.path), message: i.message, fix: i.fix })));
  }
  return parsed.data;
}

export async function loadSpec(file: string, catalog: CatalogIndex): Promise<Stack> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      `${file}: cannot read the spec (${code ?? String(e)})`,
      EXIT.invalidInput,
      code === 'ENOENT' ? 'check the path, or run `llmstack init` to write a starter spec' : 'check the file permissions',
    );
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
      const got = value === undefined ? 'nothing' : Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`;
      if (value === undefined) {
        return { ...where, message: `required field is missing (expected ${issue.expected})`, fix: `add ${formatPath(path)}` };
      }
      return { ...where, message: `expected ${issue.expected}, got ${got}`, fix: `write ${formatPath(path)} as ${article(issue.expected)}` };
    }
    case 'invalid_value':
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
      const fix = (issue as { params?: { fix?: string } }).params?.fix;
      return { ...where, message: issue.message, fix: fix ?? `correct ${formatPath(path) || 'the document'}` };
    }
  }
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

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
