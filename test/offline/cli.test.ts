// The thin commands and their contracts: init's starter spec, diff's per-object patches, kubectl-style
// flags, -o formats, and the exit-code table of src/errors.ts and README.md, run for every command.
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { diffCommand } from '../../src/cli/diff.js';
import { generateCommand } from '../../src/cli/generate.js';
import { initCommand } from '../../src/cli/init.js';
import { buildProgram } from '../../src/cli/main.js';
import { runCli, type CliRun } from '../support/cli.js';
import { loadCatalog } from '../../src/catalog/load.js';
import { COMMAND_EXITS, EXIT, EXIT_MEANINGS, UserError } from '../../src/errors.js';
import { parseSpec } from '../../src/spec/load.js';
import { repoRoot, sharedDir } from '../support/paths.js';

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

// ---------- the CLI's contracts, in process (main() as the binary runs it) ----------

type Run = CliRun;
const cli = runCli;

const specText = (name: string, version = 'v1.33.1') =>
  `apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: ${name}}\nspec:\n  clusters: [{name: one, class: docker-llm, kubernetesVersion: ${version}}]\n`;
const badSpec = 'apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: x}\nspec: {clusters: [{name: a, class: nope}]}\n';

/** A kubeconfig with two contexts whose servers refuse connections (nothing listens on ports 1 and 2). */
async function deadKubeconfig(): Promise<string> {
  const file = join(work, 'dead-kubeconfig.yaml');
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: first',
      'clusters: [{name: a, cluster: {server: "https://127.0.0.1:1"}}, {name: b, cluster: {server: "https://127.0.0.1:2"}}]',
      'users: [{name: u, user: {token: not-a-secret}}]',
      'contexts: [{name: first, context: {cluster: a, user: u}}, {name: second, context: {cluster: b, user: u}}]',
      '',
    ].join('\n'),
  );
  return file;
}

/** The Cluster CRD without the ClusterClass CRD of its group: a ClusterClass then has no schema to match. */
async function onlyClusterCrd(): Promise<string> {
  const crds = join(work, 'only-cluster-crd');
  await mkdir(crds, { recursive: true });
  await cp(join(sharedDir(), 'crds', 'cluster-api', 'cluster.x-k8s.io_clusters.yaml'), join(crds, 'clusters.yaml'));
  return crds;
}

/** The rows of the README.md table under `header`, as cells. */
function tableRows(readme: string, header: string): string[][] {
  const lines = readme.split('\n');
  const at = lines.indexOf(header);
  if (at < 0) throw new Error(`README.md has no table "${header}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}

/** README.md's command table (command -> the codes its last column lists) and its exit-code table. */
async function readmeExitTable(): Promise<{ commands: Map<string, number[]>; meanings: Map<number, string> }> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const commands = new Map(tableRows(readme, '| command | what it does | exit codes |').map((r) => [/^`([a-z]+)/.exec(r[0]!)![1]!, [...r.at(-1)!.matchAll(/\b(\d)\b/g)].map((m) => Number(m[1]))]));
  const meanings = new Map(tableRows(readme, '| code | meaning |').map((r) => [Number(r[0]), r[1]!]));
  return { commands, meanings };
}

describe('the exit-code table', () => {
  it('README.md lists the codes of src/errors.ts for every command, and every code once', async () => {
    const { commands, meanings } = await readmeExitTable();
    expect(Object.fromEntries(commands)).toStrictEqual(Object.fromEntries(Object.entries(COMMAND_EXITS).map(([c, codes]) => [c, [...codes]])));
    expect([...meanings.keys()]).toStrictEqual(Object.keys(EXIT_MEANINGS).map(Number));
    expect(buildProgram().commands.map((c) => c.name()).sort()).toStrictEqual(Object.keys(COMMAND_EXITS).sort());
  });

  // Every code each command lists, produced for real; status 0/4 and the controller's 5 need an API
  // server and are in test/cluster/cli.test.ts.
  const covered = new Set<string>();
  const exits = (command: string, code: number, title: string, fn: () => Promise<void>) => {
    covered.add(`${command} ${code}`);
    it(`${command} exits ${code}: ${title}`, fn);
  };

  exits('init', 0, 'a starter spec written', async () => {
    const r = await cli(['init', '--out', join(work, 'exit-init.yaml')]);
    expect(r.code).toBe(0);
  });
  exits('init', 2, 'the file exists', async () => {
    const r = await cli(['init', '--out', join(work, 'exit-init.yaml')]);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('already exists') });
  });
  exits('generate', 0, 'committed', async () => {
    await writeFile(join(work, 'exit-gen.yaml'), specText('g'));
    const r = await cli(['generate', '-s', join(work, 'exit-gen.yaml'), '--out', join(work, 'exit-gen-repo')]);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringMatching(/committed [0-9a-f]{12}/) });
  });
  exits('generate', 2, 'a bad spec', async () => {
    await writeFile(join(work, 'exit-bad.yaml'), badSpec);
    const r = await cli(['generate', '-s', join(work, 'exit-bad.yaml'), '--out', join(work, 'never')]);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown ClusterClass "nope"') });
  });
  exits('generate', 3, 'the remote is unreachable', async () => {
    const r = await cli(['generate', '-s', join(work, 'exit-gen.yaml'), '--remote', 'http://127.0.0.1:1/gitops.git']);
    expect(r).toMatchObject({ code: 3, stderr: expect.stringContaining('git: cannot reach http://127.0.0.1:1/gitops.git') });
  });
  exits('diff', 0, 'no differences', async () => {
    const r = await cli(['diff', '-s', join(work, 'exit-gen.yaml'), '--out', join(work, 'exit-gen-repo')]);
    expect(r).toStrictEqual({ code: 0, stdout: 'no differences\n', stderr: '' });
  });
  exits('diff', 4, 'differences', async () => {
    await writeFile(join(work, 'exit-gen-2.yaml'), specText('g', 'v1.34.2'));
    const r = await cli(['diff', '-s', join(work, 'exit-gen-2.yaml'), '--out', join(work, 'exit-gen-repo')]);
    expect(r).toMatchObject({ code: 4, stdout: expect.stringContaining('~ management/clusters/default/one/cluster.yaml') });
  });
  exits('diff', 2, 'a bad spec', async () => {
    const r = await cli(['diff', '-s', join(work, 'exit-bad.yaml'), '--out', join(work, 'exit-gen-repo')]);
    expect(r.code).toBe(2);
  });
  exits('diff', 3, 'the remote is unreachable', async () => {
    const r = await cli(['diff', '-s', join(work, 'exit-gen.yaml'), '--remote', 'http://127.0.0.1:1/gitops.git']);
    expect(r).toMatchObject({ code: 3, stderr: expect.stringContaining('git: cannot reach') });
  });
  exits('validate', 0, 'spec and objects valid', async () => {
    const r = await cli(['validate', '-s', join(work, 'exit-gen.yaml'), '--crds', join(sharedDir(), 'crds')]);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringContaining(', 0 problems,') });
  });
  exits('validate', 2, 'a bad spec', async () => {
    const r = await cli(['validate', '-s', join(work, 'exit-bad.yaml')]);
    expect(r.code).toBe(2);
  });
  exits('validate', 4, 'objects no CRD serves', async () => {
    const r = await cli(['validate', '-s', join(work, 'exit-gen.yaml'), '--crds', await onlyClusterCrd()]);
    expect(r).toMatchObject({ code: 4, stdout: expect.stringContaining('no CRD serves cluster.x-k8s.io/v1beta2 ClusterClass') });
  });
  exits('validate', 5, '--server and the API server refuses connections', async () => {
    const r = await cli(['validate', '-s', join(work, 'exit-gen.yaml'), '--server', '--kubeconfig', await deadKubeconfig()]);
    expect(r).toMatchObject({ code: 5, stderr: expect.stringContaining('https://127.0.0.1:1 is unreachable') });
  });
  exits('secrets', 2, 'a spec that is not valid', async () => {
    await writeFile(join(work, 'exit-secrets-bad.yaml'), 'apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: Bad}\n');
    const r = await cli(['secrets', '-s', join(work, 'exit-secrets-bad.yaml'), '--kubeconfig', await deadKubeconfig()]);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('metadata.name') });
  });
  exits('secrets', 5, 'the API server refuses connections', async () => {
    const r = await cli(['secrets', '-s', join(work, 'exit-gen.yaml'), '--kubeconfig', await deadKubeconfig()]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('cannot read or create the Secrets: https://127.0.0.1:1 is unreachable');
  });
  exits('status', 2, 'a context the kubeconfig does not have', async () => {
    const r = await cli(['status', '--kubeconfig', await deadKubeconfig(), '--context', 'third']);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('context "third" is not in contexts') });
  });
  exits('status', 5, 'the API server refuses connections', async () => {
    const r = await cli(['status', '--kubeconfig', await deadKubeconfig()]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('error: cannot list LLMClusters: https://127.0.0.1:1 is unreachable');
    expect(r.stderr).toContain('fix: check --kubeconfig and --context');
  });
  exits('controller', 2, 'a kubeconfig that does not exist', async () => {
    const r = await cli(['controller', '--kubeconfig', join(work, 'no-such-kubeconfig')]);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('no such file') });
  });
  exits('controller', 0, 'stopped by SIGTERM', async () => {
    // The real binary: the controller ends its process itself. Its server is unreachable; the
    // controller keeps retrying (as in a pod) until it is told to stop.
    const child = spawn(process.execPath, [join(repoRoot, 'bin/llmstack.js'), 'controller', '--kubeconfig', await deadKubeconfig(), '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    try {
      let log = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          log += c.toString();
          if (log.includes('"msg":"starting"')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before starting: ${log}`)));
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
  exits('schema', 0, 'the JSON Schema', async () => {
    const r = await cli(['schema']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ title: 'llmstack Stack' });
  });
  exits('schema', 2, 'a format it does not have', async () => {
    const r = await cli(['schema', '-o', 'table']);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining("argument 'table' is invalid. Allowed choices are json, yaml") });
  });

  it('covers every code of every command, offline or in test/cluster/cli.test.ts', () => {
    const inCluster = ['status 0', 'status 4', 'controller 5', 'secrets 0', 'secrets 4'];
    const listed = Object.entries(COMMAND_EXITS).flatMap(([c, codes]) => codes.map((code) => `${c} ${code}`));
    expect(listed.filter((k) => !covered.has(k)).sort()).toStrictEqual(inCluster.sort());
  });

  // Usage errors are 2 for every command, never commander's 1 (reserved for bugs).
  for (const command of Object.keys(COMMAND_EXITS)) {
    it(`${command}: an unknown flag exits 2 and names the flag`, async () => {
      const r = await cli([command, '--no-such-flag']);
      expect(r).toMatchObject({ code: EXIT.invalidInput, stdout: '' });
      expect(r.stderr).toContain("error: unknown option '--no-such-flag'");
    });
  }
  it('an unknown command, no command, and a bad choice exit 2', async () => {
    expect((await cli(['genrate'])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
    expect((await cli(['status', '-o', 'wide'])).code).toBe(2);
    expect((await cli(['status', '-n', 'a', '-A'])).stderr).toContain("option '-A, --all-namespaces' cannot be used with option '-n, --namespace <ns>'");
  });
});

describe('flags', () => {
  it('--version is package.json version; --help of every command has examples', async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(await cli(['--version'])).toStrictEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    for (const command of Object.keys(COMMAND_EXITS)) {
      const r = await cli([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`\\nExamples:\\n(  .+\\n)*  \\$ llmstack ${command}\\b`));
    }
    expect((await cli(['--help'])).stdout).toContain('Exit codes:\n  0  success\n  1  a bug in llmstack');
  });

  it.each([
    [['--workers', 'abc'], "option '--workers <n>' argument 'abc' is invalid. expected a whole number of at least 1"],
    [['--workers', '0'], "option '--workers <n>' argument '0' is invalid"],
    [['--workers', '2.5'], "option '--workers <n>' argument '2.5' is invalid"],
    [['--label-workers', '-1'], "option '--label-workers <n>' argument '-1' is invalid"],
    [['--autoscaler-poll', 'abc'], "option '--autoscaler-poll <seconds>' argument 'abc' is invalid. expected seconds, at least 1"],
    [['--autoscaler-poll', '0'], "option '--autoscaler-poll <seconds>' argument '0' is invalid"],
    [['--listen', ':99999'], "option '--listen <addr>' argument ':99999' is invalid"],
  ])('controller %j is a usage error (exit 2), checked before anything starts', async (flags, message) => {
    const r = await cli(['controller', '--kubeconfig', join(work, 'no-such-kubeconfig'), ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${message}`);
  });

  it('init has --out and no -o: -o is --output wherever it exists', async () => {
    expect((await cli(['init', '-o', join(work, 'x.yaml')])).stderr).toContain("unknown option '-o'");
    for (const command of ['generate', 'diff', 'validate', 'status', 'schema']) {
      const option = buildProgram().commands.find((c) => c.name() === command)!.options.find((o) => o.short === '-o');
      expect(option?.long, command).toBe('--output');
    }
  });

  it('--context picks the context, and KUBECONFIG is honoured', async () => {
    const kubeconfig = await deadKubeconfig();
    const r = await cli(['status', '--context', 'second'], { KUBECONFIG: kubeconfig });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('https://127.0.0.1:2 is unreachable');
    const v = await cli(['validate', '-s', join(work, 'exit-gen.yaml'), '--server', '--context', 'second'], { KUBECONFIG: kubeconfig });
    expect(v).toMatchObject({ code: 5, stderr: expect.stringContaining('https://127.0.0.1:2 is unreachable') });
  });
});

describe('-o json and yaml', () => {
  beforeAll(async () => {
    await writeFile(join(work, 'fmt.yaml'), specText('f'));
  });

  it('generate --dry-run prints the same plan as JSON and YAML', async () => {
    const args = ['generate', '-s', join(work, 'fmt.yaml'), '--out', join(work, 'fmt-repo'), '--dry-run'];
    const json = await cli([...args, '-o', 'json']);
    const yaml = await cli([...args, '-o', 'yaml']);
    expect(json.code).toBe(0);
    expect(parseYaml(yaml.stdout)).toStrictEqual(JSON.parse(json.stdout));
    expect(JSON.parse(json.stdout)).toMatchObject({ stack: 'f', commit: null, pushed: false, update: [], delete: [] });
    expect((JSON.parse(json.stdout) as { add: string[] }).add).toContain('management/clusters/default/one/cluster.yaml');
  });

  it('diff -o yaml lists the files and their object operations', async () => {
    await cli(['generate', '-s', join(work, 'fmt.yaml'), '--out', join(work, 'fmt-repo')]);
    await writeFile(join(work, 'fmt-2.yaml'), specText('f', 'v1.34.2'));
    const r = await cli(['diff', '-s', join(work, 'fmt-2.yaml'), '--out', join(work, 'fmt-repo'), '-o', 'yaml']);
    expect(r.code).toBe(4);
    const diffs = parseYaml(r.stdout) as { path: string; objects: { ops?: { op: string; path: string; value?: unknown }[] }[] }[];
    const cluster = diffs.find((d) => d.path === 'management/clusters/default/one/cluster.yaml');
    expect(cluster?.objects[0]?.ops).toContainEqual({ op: 'replace', path: '/spec/topology/version', value: 'v1.34.2' });
  });

  it('validate -o json reports every finding; a bad spec still prints its problems on stdout (exit 2)', async () => {
    const good = await cli(['validate', '-s', join(work, 'fmt.yaml'), '--crds', await onlyClusterCrd(), '-o', 'json']);
    expect(good.code).toBe(4);
    const report = JSON.parse(good.stdout) as { valid: boolean; spec: { valid: boolean }; offline: { problems: { file: string; object: string; message: string }[] }; server: null };
    expect(report).toMatchObject({ valid: false, spec: { valid: true, clusters: 1 }, server: null });
    expect(report.offline.problems).toContainEqual(expect.objectContaining({ message: 'no CRD serves cluster.x-k8s.io/v1beta2 ClusterClass' }));

    await writeFile(join(work, 'fmt-bad.yaml'), badSpec);
    const bad = await cli(['validate', '-s', join(work, 'fmt-bad.yaml'), '-o', 'yaml']);
    expect(bad.code).toBe(2);
    expect(parseYaml(bad.stdout)).toStrictEqual({
      valid: false,
      spec: {
        file: join(work, 'fmt-bad.yaml'),
        valid: false,
        problems: [
          {
            file: join(work, 'fmt-bad.yaml'),
            line: 4,
            column: 36,
            path: 'spec.clusters[0].class',
            message: 'unknown ClusterClass "nope"',
            fix: 'use one of: "docker-llm", or add {name: nope, provider: docker} to spec.clusterClasses',
          },
        ],
      },
      offline: null,
      server: null,
    });
    expect(bad.stderr).toContain('error: ');
  });
});

afterEach(() => {
  process.exitCode = undefined;
});
