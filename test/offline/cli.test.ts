// The thin commands: init's starter spec, diff's per-object patches, and the CLI's exit codes.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffCommand } from '../../src/cli/diff.js';
import { generateCommand } from '../../src/cli/generate.js';
import { initCommand } from '../../src/cli/init.js';
import { loadCatalog } from '../../src/catalog/load.js';
import { UserError } from '../../src/errors.js';
import { parseSpec } from '../../src/spec/load.js';
import { repoRoot } from '../support/paths.js';

let work: string;
const quiet = () => undefined;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'llmstack-cli-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('init', () => {
  it('writes a commented spec that parses, and never overwrites without --force', async () => {
    const file = join(work, 'llmstack.yaml');
    const out: string[] = [];
    await initCommand({ out: file, name: 'team-a' }, (l) => out.push(l));
    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^# llmstack quickstart/);
    expect(text).not.toContain('yaml-language-server');
    expect(parseSpec(text, file, await loadCatalog()).metadata.name).toBe('team-a');
    const err = await initCommand({ out: file }, quiet).catch((e: unknown) => e);
    expect((err as UserError).message).toBe(`${file} already exists`);
    expect(await readFile(file, 'utf8')).toBe(text);
  });
});

describe('diff', () => {
  it('shows per-object JSON-patch operations between the repo and the spec', async () => {
    const spec = join(work, 'diff.yaml');
    const repo = join(work, 'diff-repo');
    const base = 'apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: d}\nspec:\n  clusters: [{name: one, class: docker-llm, kubernetesVersion: v1.33.1}]\n';
    await writeFile(spec, base);
    await generateCommand({ spec, out: repo }, quiet, quiet);
    expect(await diffCommand({ spec, out: repo }, quiet, quiet)).toStrictEqual([]);

    await writeFile(spec, base.replace('v1.33.1', 'v1.34.2'));
    const lines: string[] = [];
    const diffs = await diffCommand({ spec, out: repo }, (l) => lines.push(l), quiet);
    expect(diffs.map((d) => `${d.change} ${d.path}`)).toStrictEqual([
      'updated management/clusters/default/one/autoscaler.yaml',
      'updated management/clusters/default/one/cluster.yaml',
    ]);
    expect(lines).toContain('        replace /spec/topology/version = "v1.34.2"');
    expect(lines).toContain('        replace /spec/template/spec/containers/0/image = "registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.0"');
  });
});

describe('the llmstack binary', () => {
  const run = (args: string[], cwd = work) =>
    promisify(execFile)(process.execPath, [join(repoRoot, 'bin/llmstack.js'), ...args], { cwd, encoding: 'utf8' }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('runs the built-in quickstart into ./gitops, then finds nothing to do', async () => {
    const dir = await mkdtemp(join(work, 'first-run-'));
    const first = await run(['generate'], dir);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('using the built-in quickstart spec');
    expect(first.stdout).toMatch(/^stack "quickstart" → gitops \(main\)\n/);
    const second = await run(['generate'], dir);
    expect(second.stdout).toBe('stack "quickstart" → gitops (main): no changes\n');
  });

  it('exits 2 with the message and fix for a bad spec', async () => {
    await writeFile(join(work, 'bad.yaml'), 'apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: x}\nspec: {clusters: [{name: a, class: nope}]}\n');
    const r = await run(['generate', '--spec', 'bad.yaml', '--out', 'never']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'error: bad.yaml: 1 problem in the spec\nbad.yaml:4:36: spec.clusters[0].class: unknown ClusterClass "nope"\n  fix: use one of: "docker-llm", or add {name: nope, provider: docker} to spec.clusterClasses\n',
    );
  });
});
