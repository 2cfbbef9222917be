// Every bad spec and hostile target gets its exact message (file, line, field path, fix) and exit
// code, and leaves everything as it was: the repository (HEAD, refs, index, working tree, .git/config)
// and the files beside it, byte for byte and mode for mode.
import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffCommand } from '../../src/cli/diff.js';
import { generateCommand } from '../../src/cli/generate.js';
import { UserError } from '../../src/errors.js';
import { startGitServer, type GitServer } from '../support/git-server.js';
import { snapshot } from '../support/snapshot.js';
import { BAD_CASES, GOOD, TARGET_CASES, type BadCase, type CaseContext } from './bad-specs.cases.js';

let root: string;
let template: string;
let server: GitServer;
const quiet = () => undefined;
const gitIn = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, '-c', 'user.name=u', '-c', 'user.email=u@example.test', ...args], { encoding: 'utf8' });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'llmstack-bad-'));
  template = join(root, 'template');
  await writeFile(join(root, 'good.yaml'), GOOD);
  await generateCommand({ spec: join(root, 'good.yaml'), out: template }, quiet, quiet);
  server = await startGitServer();
  server.createRepo('refused');
});
afterAll(async () => {
  await server.stop();
  await rm(root, { recursive: true, force: true });
});

async function prepare(c: BadCase): Promise<CaseContext> {
  const work = await mkdtemp(join(root, 'case-'));
  const repo = join(work, 'repo');
  const outside = join(work, 'outside');
  await cp(template, repo, { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'secret.txt'), 'not llmstack\'s\n');
  await chmod(join(outside, 'secret.txt'), 0o600);
  await writeFile(join(outside, 'notes.txt'), 'notes\n');
  const ctx: CaseContext = { work, repo, outside, specFile: join(work, 'bad.yaml'), gitUrl: server.url, git: (...a) => gitIn(repo, ...a) };
  await writeFile(ctx.specFile, typeof c.spec === 'string' ? c.spec : c.spec(ctx));
  await c.setup?.(ctx);
  return ctx;
}

function normalise(text: string, ctx: CaseContext): string {
  return text.replaceAll(ctx.specFile, 'bad.yaml').replaceAll(ctx.work, '<work>').replaceAll(server.url, '<git>');
}

async function withEnv<T>(env: Record<string, string> | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env ?? {}).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const actual: Record<string, string> = {};

function runCases(cases: BadCase[], withDiff: boolean) {
  for (const c of cases) {
    it(c.name, async () => {
      const ctx = await prepare(c);
      const opts = { spec: ctx.specFile, out: ctx.repo, ...c.options?.(ctx) };
      const before = await snapshot(ctx.work);
      const printed: string[] = [];
      const err = await withEnv(c.env, () => generateCommand(opts, (l) => printed.push(l), quiet)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      const message = normalise((err as UserError).render(), ctx);
      actual[c.name] = message;
      expect(message).toBe(c.message);
      expect((err as UserError).exitCode).toBe(c.exit ?? 2);
      expect(printed.join('\n')).not.toMatch(/committed/);
      // Nothing moved: not the repository (HEAD, refs, index, config, files), not the files beside it.
      expect(await snapshot(ctx.work)).toStrictEqual(before);
      if (withDiff && c.diff !== false) {
        const dErr = await withEnv(c.env, () => diffCommand(opts, quiet, quiet)).catch((e: unknown) => e);
        expect(dErr).toBeInstanceOf(UserError);
        expect(normalise((dErr as UserError).render(), ctx)).toBe(c.message);
        expect(await snapshot(ctx.work)).toStrictEqual(before);
      }
      await rm(ctx.work, { recursive: true, force: true });
    });
  }
}

describe('bad specs', () => {
  it('has at least 60 cases with a message each', () => {
    expect(BAD_CASES.length + TARGET_CASES.length).toBeGreaterThanOrEqual(60);
    for (const c of [...BAD_CASES, ...TARGET_CASES]) expect(c.message, c.name).toMatch(/fix: \S/);
  });
  runCases(BAD_CASES, true);
});

describe('hostile flags, environment and target repositories', () => {
  runCases(TARGET_CASES, false);
});

describe('hostile content', () => {
  it('a document nested too deeply for the parser is refused, not a crash', async () => {
    const ctx = await prepare({ name: 'deep', spec: `${GOOD}  apps: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`, message: '' });
    const before = await snapshot(ctx.work);
    const err = await generateCommand({ spec: ctx.specFile, out: ctx.repo }, quiet, quiet).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    // The column depends on the stack size of the process; the message and fix do not.
    expect(normalise((err as UserError).render(), ctx)).toMatch(
      /^bad\.yaml: 1 problem in the spec\nbad\.yaml:\d+:\d+: \(document\): the YAML is nested too deeply to read\n  fix: a spec is a few levels deep: look for runaway brackets or indentation around that line$/,
    );
    expect(await snapshot(ctx.work)).toStrictEqual(before);
  });

  it('diff shows an owned file edited into an alias bomb as changed, without expanding it', async () => {
    const ctx = await prepare({ name: 'bomb', spec: GOOD, message: '' });
    const file = 'management/clusters/default/one/cluster.yaml';
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 8 }, (_, i) => `${'b'.repeat(i + 1)}: &${'b'.repeat(i + 1)} [${Array(10).fill(i ? `*${'b'.repeat(i)}` : '*a').join(', ')}]`).join('\n')}\n`;
    await writeFile(join(ctx.repo, file), bomb);
    const diffs = await diffCommand({ spec: ctx.specFile, out: ctx.repo }, quiet, quiet);
    expect(diffs.map((d) => `${d.change} ${d.path}`)).toStrictEqual([`updated ${file}`]);
  });
});

afterAll(async () => {
  if (process.env.PRINT_BAD_MESSAGES) await writeFile(process.env.PRINT_BAD_MESSAGES, JSON.stringify(actual, null, 2));
});
