// Git through a real Git server over HTTP: clone, push, auth failure, concurrent generates,
// idempotence, stale-file deletion and a user's own files.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, mkdtemp, readFile, rm, stat, writeFile, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { UserError } from '../../src/errors.js';
import { generateCommand } from '../../src/cli/generate.js';
import { generateToGit } from '../../src/gitops/repo.js';
import { renderStack } from '../../src/render/index.js';
import { parseSpec } from '../../src/spec/load.js';
import { startGitServer, type GitServer } from '../support/git-server.js';

let server: GitServer;
let catalog: Catalog;
let work: string;

beforeAll(async () => {
  server = await startGitServer();
  catalog = await loadCatalog();
  work = await mkdtemp(join(tmpdir(), 'llmstack-gitops-test-'));
});
afterAll(async () => {
  await server.stop();
  await rm(work, { recursive: true, force: true });
});

const git = (dir: string, ...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();
// The Git server runs in this process: talking to it must not block the event loop.
const gitAsync = async (...args: string[]) => (await promisify(execFile)('git', args, { encoding: 'utf8' })).stdout.trim();
const authedUrl = (name: string) => `http://${server.username}:${server.password}@${server.url.slice('http://'.length)}/${name}.git`;

function spec(name: string, clusters: string[], extra = ''): string {
  return [
    'apiVersion: llmstack.dev/v1alpha1',
    'kind: Stack',
    `metadata: {name: ${name}}`,
    'spec:',
    `  git: {branch: main, path: ${name}${extra}}`,
    '  clusters:',
    ...clusters.map((c) => `    - {name: ${c}, class: docker-llm}`),
  ].join('\n');
}

function request(name: string, clusters: string[], target: { dir?: string; url?: string }, auth = true) {
  const stack = parseSpec(spec(name, clusters), `${name}.yaml`, catalog);
  return {
    stack: name,
    target: { ...target, branch: 'main', base: name, auth: auth ? { username: server.username, password: server.password } : undefined },
    render: () => renderStack(stack, catalog).files,
  };
}

async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    if (e.name === '.git') continue;
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listTree(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

describe('generate into a remote over HTTP', () => {
  it('clones an empty remote, commits once and pushes; a re-run makes no commit', async () => {
    const url = server.repoUrl('first');
    server.createRepo('first');
    const first = await generateToGit(request('alpha', ['one'], { url }));
    expect(first.pushed).toBe(true);
    expect(first.commit).toMatch(/^[0-9a-f]{40}$/);

    const again = await generateToGit(request('alpha', ['one'], { url }));
    expect(again.commit).toBeUndefined();
    expect(again.pushed).toBe(false);
    expect(again.changes).toEqual([]);

    const check = join(work, 'check-first');
    await gitAsync('clone', '-q', authedUrl('first'), check);
    expect(git(check, 'rev-list', '--count', 'HEAD')).toBe('1');
    expect(git(check, 'log', '-1', '--format=%s')).toBe('llmstack: update stack "alpha" (10 units changed)');
    expect(git(check, 'log', '-1', '--format=%b')).toContain('- cluster default/one: added autoscaler.yaml, cluster.yaml, cni.yaml, controller-access.yaml, fleet.yaml');
    // Credentials are never written into the repository's config.
    expect(await readFile(join(check, 'alpha/.llmstack/owned.json'), 'utf8')).toContain('"stack": "alpha"');
  });

  it('refuses bad credentials with a clear error and changes nothing on the remote', async () => {
    const url = server.repoUrl('auth');
    server.createRepo('auth');
    const req = request('beta', ['one'], { url });
    req.target.auth = { username: server.username, password: 'wrong' };
    const err = await generateToGit(req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toBe(`git: the remote ${url} refused the credentials`);
    expect((err as UserError).fix).toContain('LLMSTACK_GIT_USERNAME');
    expect((err as UserError).exitCode).toBe(3);
    const bare = join(work, 'auth-bare-check');
    await gitAsync('clone', '-q', '--bare', authedUrl('auth'), bare);
    expect(() => git(bare, 'rev-parse', '--verify', '-q', 'refs/heads/main')).toThrow();
  });

  it('lands two concurrent generates on one branch without losing a commit', async () => {
    const url = server.repoUrl('race');
    server.createRepo('race');
    await generateToGit(request('seed', ['s'], { url }));
    const results = await Promise.all([
      generateToGit(request('left', ['l1', 'l2'], { url })),
      generateToGit(request('right', ['r1'], { url })),
      generateToGit(request('third', ['t1'], { url })),
    ]);
    expect(results.every((r) => r.pushed)).toBe(true);
    const check = join(work, 'check-race');
    await gitAsync('clone', '-q', authedUrl('race'), check);
    expect(git(check, 'rev-list', '--count', 'HEAD')).toBe('4');
    const subjects = git(check, 'log', '--format=%s').split('\n').sort();
    expect(subjects).toEqual([
      'llmstack: update stack "left" (11 units changed)',
      'llmstack: update stack "right" (10 units changed)',
      'llmstack: update stack "seed" (10 units changed)',
      'llmstack: update stack "third" (10 units changed)',
    ]);
    for (const s of ['seed', 'left', 'right', 'third']) {
      expect(JSON.parse(await readFile(join(check, s, '.llmstack/owned.json'), 'utf8')).stack).toBe(s);
    }
  });
});

describe('generate with a push remote other than the URL Fleet pulls', () => {
  it('pushes through --remote while the GitRepos keep spec.git.url', async () => {
    server.createRepo('portforward');
    const specFile = join(work, 'remote.yaml');
    await writeFile(
      specFile,
      'apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: pf}\nspec:\n  git: {url: "http://git-server.llmstack-system.svc/llmstack/gitops.git"}\n  clusters: [{name: a, class: docker-llm}]\n',
    );
    process.env.LLMSTACK_GIT_USERNAME = server.username;
    process.env.LLMSTACK_GIT_PASSWORD = server.password;
    const out: string[] = [];
    try {
      await generateCommand({ spec: specFile, remote: server.repoUrl('portforward') }, (l) => out.push(l), () => undefined);
    } finally {
      delete process.env.LLMSTACK_GIT_USERNAME;
      delete process.env.LLMSTACK_GIT_PASSWORD;
    }
    expect(out[0]).toBe(`stack "pf" → ${server.repoUrl('portforward')} (main)`);
    expect(out[out.length - 1]).toMatch(/^committed [0-9a-f]{12} \(25 added, 0 updated, 0 deleted\), pushed$/);
    const check = join(work, 'check-pf');
    await gitAsync('clone', '-q', authedUrl('portforward'), check);
    expect(await readFile(join(check, 'bootstrap/gitrepos.yaml'), 'utf8')).toContain('repo: http://git-server.llmstack-system.svc/llmstack/gitops.git');
  });
});

describe('a working copy whose remote moved', () => {
  it('follows the remote it is given (a port-forward on a new port)', async () => {
    server.createRepo('moved-a');
    server.createRepo('moved-b');
    const dir = join(work, 'moved');
    await generateToGit(request('mu', ['one'], { dir, url: server.repoUrl('moved-a') }));
    // The same history now lives at another URL; the next run must fetch and push there.
    await gitAsync('-C', dir, 'push', '-q', authedUrl('moved-b'), 'main');
    const res = await generateToGit(request('mu', ['one', 'two'], { dir, url: server.repoUrl('moved-b') }));
    expect(res.pushed).toBe(true);
    expect(git(dir, 'remote', 'get-url', 'origin')).toBe(server.repoUrl('moved-b'));
    const check = join(work, 'check-moved');
    await gitAsync('clone', '-q', authedUrl('moved-b'), check);
    expect(git(check, 'rev-list', '--count', 'HEAD')).toBe('2');
  });
});

describe('generate into a local working copy', () => {
  it('deletes a removed cluster\'s files, touches nothing else, and keeps the user\'s own files', async () => {
    const dir = join(work, 'local');
    await generateToGit(request('gamma', ['keep', 'drop'], { dir }));
    await mkdir(join(dir, 'gamma/management/clusters/default/keep'), { recursive: true });
    await writeFile(join(dir, 'gamma/management/clusters/default/keep/notes.md'), 'mine\n');
    await writeFile(join(dir, 'README.md'), 'my repo\n');
    git(dir, 'add', '-A');
    git(dir, '-c', 'user.name=u', '-c', 'user.email=u@example.test', 'commit', '-q', '-m', 'my files');
    const before = await listTree(dir);

    const res = await generateToGit(request('gamma', ['keep'], { dir }));
    expect(res.plan.delete).toEqual([
      'gamma/management/clusters/default/drop/autoscaler.yaml',
      'gamma/management/clusters/default/drop/cluster.yaml',
      'gamma/management/clusters/default/drop/cni.yaml',
      'gamma/management/clusters/default/drop/controller-access.yaml',
      'gamma/management/clusters/default/drop/fleet.yaml',
    ]);
    expect(res.plan.add).toEqual([]);
    // The owned list changes, and the shared bundles are untouched (keep still uses them).
    expect(res.plan.update).toEqual(['gamma/.llmstack/owned.json']);
    const after = await listTree(dir);
    expect(before.filter((p) => !after.includes(p))).toEqual(res.plan.delete);
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('my repo\n');
    expect(await readFile(join(dir, 'gamma/management/clusters/default/keep/notes.md'), 'utf8')).toBe('mine\n');
    expect(git(dir, 'status', '--porcelain')).toBe('');
    expect(git(dir, 'log', '-1', '--format=%b')).toBe('- cluster default/drop: deleted autoscaler.yaml, cluster.yaml, cni.yaml, controller-access.yaml, fleet.yaml');
  });

  it('refuses to overwrite a file it does not own, leaving the repo as it was', async () => {
    const dir = join(work, 'conflict');
    await mkdir(join(dir, 'delta/bundles/ollama'), { recursive: true });
    git(work, 'init', '-q', '--initial-branch=main', dir);
    await writeFile(join(dir, 'delta/bundles/ollama/fleet.yaml'), 'hand written\n');
    const err = await generateToGit(request('delta', ['one'], { dir })).catch((e: unknown) => e);
    expect((err as UserError).message).toBe('these files exist in the repo but were not written by llmstack: delta/bundles/ollama/fleet.yaml');
    expect(await listTree(dir)).toEqual(['delta/bundles/ollama/fleet.yaml']);
    expect(await readFile(join(dir, 'delta/bundles/ollama/fleet.yaml'), 'utf8')).toBe('hand written\n');
  });

  it('puts every file back when the commit fails half-way', async () => {
    const dir = join(work, 'locked');
    await generateToGit(request('zeta', ['one'], { dir }));
    const head = git(dir, 'rev-parse', 'HEAD');
    const before = await listTree(dir);
    const cluster = await readFile(join(dir, 'zeta/management/clusters/default/one/cluster.yaml'), 'utf8');
    // Another git process holds the index: staging fails after llmstack wrote the files.
    await writeFile(join(dir, '.git/index.lock'), '');
    const err = await generateToGit(request('zeta', ['two'], { dir })).catch((e: unknown) => e);
    await rm(join(dir, '.git/index.lock'));
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toMatch(/index\.lock/);
    expect(git(dir, 'rev-parse', 'HEAD')).toBe(head);
    expect(await listTree(dir)).toEqual(before);
    expect(await readFile(join(dir, 'zeta/management/clusters/default/one/cluster.yaml'), 'utf8')).toBe(cluster);
    expect(git(dir, 'status', '--porcelain')).toBe('');
  });

  it('puts a deleted file back with its own permissions when the commit fails', async () => {
    const dir = join(work, 'modes');
    await generateToGit(request('eta', ['one'], { dir }));
    const file = join(dir, 'eta/management/clusters/default/one/cluster.yaml');
    // git records no 0600 (only the executable bit), so the working copy stays clean.
    await chmod(file, 0o600);
    expect(git(dir, 'status', '--porcelain')).toBe('');
    const content = await readFile(file, 'utf8');
    await writeFile(join(dir, '.git/index.lock'), '');
    // Cluster one goes away: its files are deleted, then the commit fails and they come back.
    const err = await generateToGit(request('eta', ['two'], { dir })).catch((e: unknown) => e);
    await rm(join(dir, '.git/index.lock'));
    expect(err).toBeInstanceOf(UserError);
    expect(await readFile(file, 'utf8')).toBe(content);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('writes byte-identical trees for the same spec', async () => {
    const a = join(work, 'det-a');
    const b = join(work, 'det-b');
    await generateToGit(request('eps', ['x', 'y'], { dir: a }));
    await generateToGit(request('eps', ['x', 'y'], { dir: b }));
    const files = await listTree(a);
    expect(await listTree(b)).toEqual(files);
    for (const f of files) expect(await readFile(join(b, f), 'utf8')).toBe(await readFile(join(a, f), 'utf8'));
    // Same content, same tree object.
    expect(git(a, 'rev-parse', 'HEAD^{tree}')).toBe(git(b, 'rev-parse', 'HEAD^{tree}'));
  });
});
