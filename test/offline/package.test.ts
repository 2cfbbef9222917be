// The published package: `npm pack` of a copy of this checkout (its prepare script compiles dist/),
// installed from the tarball into an empty project with its production dependencies only, then run as
// a user runs it. Proves the bin runs compiled JavaScript without tsx or src/, and ships what it reads.
import { execFile } from 'node:child_process';
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';

const exec = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// npm and the packed bin run on the Node that runs the tests (CI runs this file on two versions).
const env = { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' };

let work: string;
let copy: string;
let tarball: string;
let packed: string[];
let project: string;
const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };

async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    out.set(relative(dir, full), await readFile(full, 'utf8'));
  }
  return out;
}

const llmstack = (args: string[], cwd: string) =>
  exec(process.execPath, [join(project, 'node_modules', '.bin', 'llmstack'), ...args], { cwd, env, encoding: 'utf8' }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'llmstack-pack-'));
  // A copy, so the build that `npm pack` runs never rewrites this checkout's dist/ under other tests.
  copy = join(work, 'checkout');
  const skip = new Set(['node_modules', '.git', 'dist', 'gitops', 'coverage', '.tmp']);
  await cp(repoRoot, copy, { recursive: true, filter: (src) => !skip.has(relative(repoRoot, src).split(/[/\\]/)[0]!) });
  await symlink(join(repoRoot, 'node_modules'), join(copy, 'node_modules'), 'dir');
  const { stdout } = await exec(npm, ['pack', '--json', '--pack-destination', work], { cwd: copy, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info!.filename);
  packed = info!.files.map((f) => f.path).sort();

  project = join(work, 'user-project');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true }));
  await exec(npm, ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: project, env, encoding: 'utf8' });
}, 300_000);

afterAll(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

describe('the packed package', () => {
  it('ships the compiled CLI and the catalogs, and no sources or tests', () => {
    expect(packed).toContain('dist/cli/main.js');
    expect(packed).toContain('bin/llmstack.js');
    expect(packed).toContain('examples/quickstart.yaml');
    expect(packed.some((p) => p.startsWith('clusterclasses/'))).toBe(true);
    expect(packed.some((p) => p.startsWith('fleet-bundles/'))).toBe(true);
    expect(packed.filter((p) => /^(src|test)\//.test(p) || p.endsWith('.ts'))).toStrictEqual([]);
  });

  it('installs without tsx: its production dependencies are enough', async () => {
    const installed = await readdir(join(project, 'node_modules'));
    expect(installed).toContain(pkg.name);
    expect(installed).not.toContain('tsx');
  });

  it('prints the version of package.json', async () => {
    const r = await llmstack(['--version'], project);
    expect(r).toStrictEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it('generates the embedded quickstart into ./gitops, the same bytes as the golden files', async () => {
    const dir = await mkdtemp(join(work, 'first-run-'));
    const r = await llmstack(['generate'], dir);
    expect(r.stderr).toContain('using the built-in quickstart spec');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^stack "quickstart" → gitops \(main\)\n/);
    const written = await tree(join(dir, 'gitops'));
    const golden = await tree(join(repoRoot, 'test', 'golden', 'quickstart'));
    const rendered = new Map([...written].filter(([p]) => !p.startsWith('.git/') && p !== '.llmstack/owned.json'));
    expect(rendered).toStrictEqual(golden);
    const { stdout: log } = await exec('git', ['-C', join(dir, 'gitops'), 'log', '--format=%s'], { encoding: 'utf8' });
    expect(log.trim().split('\n')).toHaveLength(1);
  });

  it('keeps the exit codes: a usage error is 2', async () => {
    const r = await llmstack(['generate', '--no-such-flag'], project);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--no-such-flag'");
  });
});

describe('the bin in a source checkout', () => {
  const run = () => exec(process.execPath, [join(copy, 'bin', 'llmstack.js'), '--version'], { cwd: copy, env, encoding: 'utf8' });

  it('runs dist/ while it is newer than src/, and src/ through tsx once a source file changed', async () => {
    // GIVEN the build that npm pack made in the copy, marked so that running it shows
    await appendFile(join(copy, 'dist', 'cli', 'main.js'), "\nprocess.stderr.write('ran dist\\n');\n");
    expect(await run()).toStrictEqual({ stdout: `${pkg.version}\n`, stderr: 'ran dist\n' });
    // WHEN a source file is edited after the build
    const later = new Date(Date.now() + 60_000);
    await utimes(join(copy, 'src', 'render', 'yaml.ts'), later, later);
    // THEN the sources run, not the stale build
    expect(await run()).toStrictEqual({ stdout: `${pkg.version}\n`, stderr: '' });
  });
});

describe('the controller image', () => {
  // No container engine runs in the offline suite; what the Containerfile's last stage holds is checked
  // here, and the packed package above proves that such a layout (bin, dist, catalogs, no src) runs.
  const stages = async () => {
    const text = await readFile(join(repoRoot, 'manifests/controller/Containerfile'), 'utf8');
    return text.split(/^(?=FROM )/m).filter((s) => s.startsWith('FROM '));
  };

  it('runs on the Node LTS line CI tests second, and runs compiled JavaScript only', async () => {
    const env = await readFile(join(repoRoot, 'scripts/node-versions.env'), 'utf8');
    const lts = /^NODE_LTS_VERSION=(\d+)\./m.exec(env)![1]!;
    const all = await stages();
    for (const stage of all) expect(stage).toMatch(new RegExp(`^FROM node:${lts}-`));
    // Even-numbered Node majors are the LTS lines.
    expect(Number(lts) % 2).toBe(0);
    const last = all.at(-1)!;
    const copies = [...last.matchAll(/^COPY (.+)$/gm)].map((m) => m[1]!);
    expect(copies).toContain('--from=build /src/dist ./dist');
    expect(copies.filter((c) => /\bsrc\b/.test(c.split(' ').slice(-1)[0]!) || /^src\b/.test(c))).toStrictEqual([]);
    expect(last).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(last).toMatch(/^ENTRYPOINT \["node", "\/app\/bin\/llmstack.js"\]$/m);
  });
});
