// Property: whatever the spec text, llmstack either accepts it (and renders it) or refuses it with a
// SpecError whose every issue names a field and a fix; it never crashes, and a refused spec writes
// nothing. Specs are random text, and valid example specs mutated field by field.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { generateCommand } from '../../src/cli/generate.js';
import { SpecError, UserError } from '../../src/errors.js';
import { renderStack } from '../../src/render/index.js';
import { parseSpec } from '../../src/spec/load.js';
import { repoRoot } from '../support/paths.js';
import { snapshot } from '../support/snapshot.js';

// A fixed seed keeps CI reproducible; FUZZ_SEED=<n> explores further (a failure prints its seed).
const seed = Number(process.env.FUZZ_SEED ?? 20261201);

let catalog: Catalog;
let examples: unknown[];
let work: string;

beforeAll(async () => {
  catalog = await loadCatalog();
  const dir = join(repoRoot, 'examples');
  examples = await Promise.all(
    (await readdir(dir))
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map(async (f) => (await import('yaml')).parse(await readFile(join(dir, f), 'utf8')) as unknown),
  );
  work = await mkdtemp(join(tmpdir(), 'llmstack-fuzz-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value inside `v` (the root is []). */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

const nasty = fc.oneof(
  fc.constantFrom<Json>('', ' ', '-', '..', '../x', '.git', '-f', '300.1.1.1/8', '10.0.0.0/8', 'https://TOKEN@h/x', 'x?private_token=1', 'A'.repeat(300), '\u0000', '\u202e', 'ü', '💥', 'null', '~'),
  fc.constantFrom<Json>(-1, 0, 1, 2, 3, 1.5, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, true, false, null),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.constant<Json>([]),
  fc.constant<Json>({}),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

type Mutation = { kind: 'drop' | 'set' | 'dup' | 'add'; pick: number; value: Json; key: string };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('drop', 'set', 'dup', 'add'),
  pick: fc.nat(),
  value: nasty,
  key: fc.oneof(fc.constantFrom('name', 'class', 'url', 'branch', 'path', 'pods', 'services', 'image', 'replicas', 'extra'), fc.string({ maxLength: 8 })),
});

function mutate(base: unknown, muts: Mutation[]): unknown {
  const doc = structuredClone(base) as Json;
  let root: Json = doc;
  for (const mut of muts) {
    // fc.constant hands out one shared instance: never let a spec hold (or grow) it.
    const m = { ...mut, value: structuredClone(mut.value) };
    const all = paths(root);
    const path = all[m.pick % all.length]!;
    if (path.length === 0) {
      if (m.kind === 'set') root = m.value;
      continue;
    }
    const parent = path.slice(0, -1).reduce<Json>((v, k) => (v as Record<string | number, Json>)[k]!, root) as Record<string | number, Json> | Json[];
    const key = path[path.length - 1]!;
    const cur = (parent as Record<string | number, Json>)[key]!;
    if (m.kind === 'drop') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete (parent as Record<string, Json>)[key];
    } else if (m.kind === 'set') (parent as Record<string | number, Json>)[key] = m.value;
    else if (m.kind === 'dup') {
      if (Array.isArray(parent)) parent.push(structuredClone(cur));
      else (parent as Record<string, Json>)[`${String(key)}${m.key}`] = structuredClone(cur);
    } else if (cur && typeof cur === 'object' && !Array.isArray(cur)) (cur as Record<string, Json>)[m.key] = m.value;
    else if (Array.isArray(cur)) cur.push(m.value);
  }
  return root;
}

const mutatedSpec = fc
  .tuple(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([i, muts]) => stringify(mutate(examples[i % examples.length], muts), { lineWidth: 0 }));

// Text that is not even YAML-shaped, or YAML with anchors, tags and odd scalars.
const randomText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc
    .array(fc.constantFrom('a: &x [1, 2]\n', 'b: *x\n', '!!binary AAAA\n', '? [a]\n: b\n', 'apiVersion: llmstack.dev/v1alpha1\n', 'kind: Stack\n', 'metadata: {name: x}\n', 'spec: {clusters: [{}]}\n', '---\n', '%YAML 1.1\n', 'x: .inf\n', '"\\u0000"\n', '[[[[[[[[[[[[]]]]]]]]]]]]\n'), { maxLength: 8 })
    .map((xs) => xs.join('')),
);

/** Parses in-process: accepted specs must render, refused ones must explain every issue. */
function check(text: string): 'ok' | 'refused' {
  let stack;
  try {
    stack = parseSpec(text, 'fuzz.yaml', catalog);
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    expect(e.exitCode).toBe(2);
    expect(e.issues.length).toBeGreaterThan(0);
    for (const i of e.issues) {
      expect(i.file).toBe('fuzz.yaml');
      expect(i.message.trim()).not.toBe('');
      expect(i.fix?.trim() ?? '').not.toBe('');
      // Quoted parts echo the user's own text; the rest is ours and must read cleanly.
      expect(i.fix?.replace(/"(?:[^"\\]|\\.)*"/g, '""')).not.toMatch(/ {2}|\bas an?\s*$/);
      expect(`${i.message} ${i.fix}`).not.toMatch(/got a number$|undefined|\[object Object\]/);
    }
    return 'refused';
  }
  expect(renderStack(stack, catalog).files.length).toBeGreaterThan(0);
  return 'ok';
}

describe('random and mutated specs, in-process', () => {
  it('never crash: every one is accepted and renders, or is refused with field and fix', () => {
    const seen = { ok: 0, refused: 0 };
    fc.assert(
      fc.property(fc.oneof({ weight: 4, arbitrary: mutatedSpec }, { weight: 1, arbitrary: randomText }), (text) => {
        seen[check(text)]++;
      }),
      { numRuns: 2000, seed },
    );
    // The generator reaches both sides: not only garbage, not only valid specs.
    expect(seen.ok).toBeGreaterThan(100);
    expect(seen.refused).toBeGreaterThan(1000);
  }, 180_000);
});

describe('mutated specs through generate', () => {
  const git = (dir: string, ...a: string[]) => execFileSync('git', ['-C', dir, ...a], { encoding: 'utf8' });

  it('exit 0 or 2, and a refused spec writes nothing', async () => {
    const repo = join(work, 'repo');
    const specFile = join(work, 'spec.yaml');
    // Every push goes to a local bare repository, whatever URL a mutated spec names: no network.
    const remote = join(work, 'remote.git');
    execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', remote]);
    await fc.assert(
      fc.asyncProperty(mutatedSpec, async (text) => {
        await writeFile(specFile, text);
        const before = (await readdir(work)).includes('repo') ? await snapshot(repo) : undefined;
        const head = before ? git(repo, 'rev-parse', 'HEAD') : undefined;
        const err = await generateCommand({ spec: specFile, out: repo, remote }, () => undefined, () => undefined).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (err === undefined) return;
        if (!(err instanceof UserError)) throw err;
        expect(err.exitCode).toBe(2);
        if (before) {
          expect(await snapshot(repo)).toStrictEqual(before);
          expect(git(repo, 'rev-parse', 'HEAD')).toBe(head);
        } else expect((await readdir(work)).includes('repo')).toBe(false);
      }),
      { numRuns: 50, seed },
    );
  }, 180_000);
});

describe('mutated specs through the binary', () => {
  it('exit 0 or 2, never a stack trace, nothing written by a dry run', async () => {
    const bin = join(repoRoot, 'bin/llmstack.js');
    const samples = fc.sample(fc.oneof(mutatedSpec, randomText), { numRuns: 12, seed });
    for (const [i, text] of samples.entries()) {
      const specFile = join(work, `bin-${i}.yaml`);
      await writeFile(specFile, text);
      const args = [bin, 'generate', '--dry-run', '--spec', specFile, '--out', join(work, `bin-${i}-out`)];
      const r = await promisify(execFile)(process.execPath, args, { encoding: 'utf8' }).then(
        (x) => ({ code: 0, stderr: x.stderr }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      expect([0, 2], `${text}\n${r.stderr}`).toContain(r.code);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      expect((await readdir(work)).includes(`bin-${i}-out`)).toBe(false);
    }
  }, 180_000);
});
