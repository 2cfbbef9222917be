// The one writer of Git. It renders into a working copy, writes only files llmstack owns, commits
// them in one commit, and pushes, retrying a non-fast-forward by fetching and rendering again.
// Any failure before the commit restores every file it touched: nothing partial is ever left.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { EXIT, UserError } from '../errors.js';
import type { RenderedFile } from '../render/index.js';
import { computePlan, describeChanges, isEmpty, OWNED_FILE, type OwnedList, type Plan } from './plan.js';

export interface GitTarget {
  /** Local working copy. Created (git init, or clone when `url` is set) if missing or empty. */
  dir?: string;
  /** Remote to clone from and push to. */
  url?: string;
  branch: string;
  /** Sub-folder of the repo that llmstack owns; "" for the root. */
  base: string;
  /** Basic-auth credentials for an HTTP remote; sent per command, never stored in .git/config. */
  auth?: { username: string; password: string };
}

export interface GenerateRequest {
  stack: string;
  target: GitTarget;
  /** Renders the files (relative to `base`); called again after a non-fast-forward fetch. */
  render: () => RenderedFile[];
  dryRun?: boolean;
  push?: boolean;
  maxPushAttempts?: number;
  log?: (line: string) => void;
}

export interface GenerateResult {
  plan: Plan;
  changes: string[];
  commit?: string;
  pushed: boolean;
  dir: string;
}

const AUTHOR = { name: 'llmstack', email: 'llmstack@users.noreply.localhost' };

function gitFor(dir: string, auth?: GitTarget['auth']): SimpleGit {
  const config = auth ? [`http.extraHeader=Authorization: Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`] : [];
  return simpleGit({ baseDir: dir, config }).env(gitEnv());
}

/** A small environment for git: no editor or pager, and no prompts, so a missing credential fails fast. */
function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'GIT_SSL_CAINFO', 'GIT_SSL_NO_VERIFY', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'XDG_CONFIG_HOME', 'GIT_CONFIG_GLOBAL', 'GIT_CONFIG_NOSYSTEM'];
  const env: Record<string, string> = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return { ...env, GIT_TERMINAL_PROMPT: '0', ...extra };
}

function redact(text: string): string {
  return text.replace(/Authorization: Basic [A-Za-z0-9+/=]+/g, 'Authorization: Basic ***').replace(/\/\/[^/@\s]+@/g, '//***@');
}

/** Turns git's failures into errors that say what to do. */
export function gitError(e: unknown, url?: string): UserError {
  const msg = redact(e instanceof Error ? e.message : String(e));
  if (/Authentication failed|could not read Username|401|403|terminal prompts disabled/i.test(msg)) {
    return new UserError(
      `git: the remote ${url ?? ''} refused the credentials`.replace(/\s+/g, ' '),
      EXIT.git,
      'set LLMSTACK_GIT_USERNAME and LLMSTACK_GIT_PASSWORD (a token works as password) or configure a git credential helper',
    );
  }
  if (/Could not resolve host|Connection refused|Failed to connect|unable to access/i.test(msg)) {
    return new UserError(`git: cannot reach ${url ?? 'the remote'}: ${msg.trim().split('\n').pop()}`, EXIT.git, 'check spec.git.url and the network');
  }
  return new UserError(`git: ${msg.trim()}`, EXIT.git, 'see the git message above');
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function readMaybe(p: string): Promise<string | undefined> {
  try {
    return await readFile(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** Makes sure `dir` is a working copy on the target branch; returns whether it was just created. */
async function prepare(dir: string, t: GitTarget): Promise<SimpleGit> {
  const empty = !(await isDir(dir)) || (await readdir(dir)).length === 0;
  await mkdir(dir, { recursive: true });
  const git = gitFor(dir, t.auth);
  if (empty) {
    if (t.url) {
      try {
        await git.clone(t.url, '.', ['--branch', t.branch]);
      } catch (e) {
        // An empty remote has no branch yet: clone without one and start it.
        if (!/Remote branch .* not found|couldn't find remote ref|empty repository/i.test(String(e))) throw gitError(e, t.url);
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        await git.clone(t.url, '.').catch((e2: unknown) => {
          throw gitError(e2, t.url);
        });
        await git.raw(['checkout', '-B', t.branch]);
      }
    } else {
      await git.init(['--initial-branch', t.branch]);
    }
    return git;
  }
  if (!(await git.checkIsRepo())) {
    throw new UserError(`${dir} exists, is not empty and is not a Git repository`, EXIT.invalidInput, 'pass --out with an empty folder or an existing Git working copy');
  }
  const branch = (await git.raw(['rev-parse', '--abbrev-ref', 'HEAD']).catch(() => t.branch)).trim();
  if (branch !== t.branch && branch !== 'HEAD') {
    throw new UserError(`${dir} is on branch "${branch}", the spec says "${t.branch}"`, EXIT.invalidInput, `check out "${t.branch}" there, or set spec.git.branch`);
  }
  if (t.url) {
    // The remote may have moved (a port-forward on a new port): follow the one we were given.
    const remotes = await git.getRemotes(true);
    const origin = remotes.find((r) => r.name === 'origin');
    if (!origin) await git.addRemote('origin', t.url);
    else if (origin.refs.push !== t.url || origin.refs.fetch !== t.url) await git.remote(['set-url', 'origin', t.url]);
    await pullLatest(git, t);
  }
  return git;
}

async function hasCommits(git: SimpleGit): Promise<boolean> {
  return git.raw(['rev-parse', '--verify', '-q', 'HEAD']).then(
    () => true,
    () => false,
  );
}

async function pullLatest(git: SimpleGit, t: GitTarget): Promise<void> {
  try {
    await git.fetch('origin', t.branch);
  } catch (e) {
    if (/couldn't find remote ref/i.test(String(e))) return; // branch not pushed yet
    throw gitError(e, t.url);
  }
  if (await hasCommits(git)) await git.raw(['rebase', '--autostash', `origin/${t.branch}`]).catch((e: unknown) => {
    throw gitError(e, t.url);
  });
  else await git.raw(['reset', '--hard', `origin/${t.branch}`]);
}

async function readOwned(dir: string, ownedPath: string, stack: string): Promise<string[]> {
  const text = await readMaybe(join(dir, ownedPath));
  if (text === undefined) return [];
  let parsed: OwnedList;
  try {
    parsed = JSON.parse(text) as OwnedList;
  } catch {
    throw new UserError(`${ownedPath} in the repo is not valid JSON`, EXIT.invalidInput, 'restore it from Git history (git checkout -- that file)');
  }
  if (parsed.stack !== stack) {
    throw new UserError(
      `${ownedPath} belongs to stack "${parsed.stack}", not "${stack}"`,
      EXIT.invalidInput,
      'give each stack its own spec.git.path, or rename the stack back',
    );
  }
  return parsed.files;
}

/** Computes the plan for the working copy as it is on disk. */
export async function planIn(dir: string, stack: string, base: string, files: RenderedFile[]): Promise<Plan> {
  return (await inspect(dir, stack, base, files)).plan;
}

/** The plan and the current content of every path it looked at (for `diff`). */
export async function inspect(dir: string, stack: string, base: string, files: RenderedFile[]): Promise<{ plan: Plan; current: Map<string, string | undefined> }> {
  const prefix = base ? `${base}/` : '';
  const ownedPath = `${prefix}${OWNED_FILE}`;
  const desired = files.map((f) => ({ path: prefix + f.path, content: f.content }));
  const owned = await readOwned(dir, ownedPath, stack);
  const current = new Map<string, string | undefined>();
  await Promise.all(
    [...new Set([...desired.map((f) => f.path), ...owned, ownedPath])].map(async (p) => {
      current.set(p, await readMaybe(join(dir, p)));
    }),
  );
  return { plan: computePlan(stack, desired, current, owned, ownedPath), current };
}

/** Runs `fn` on a read-only view of the target: the local working copy, or a temporary clone. */
export async function withCheckout<T>(t: GitTarget, fn: (dir: string | undefined) => Promise<T>): Promise<T> {
  if (t.dir) return fn((await isDir(t.dir)) ? resolve(t.dir) : undefined);
  const temp = await mkdtemp(join(tmpdir(), 'llmstack-'));
  try {
    await prepare(temp, t);
    return await fn(temp);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/** Runs `fn` over items, at most `limit` at a time: thousands of small files, without EMFILE. */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Writes a plan; on any failure every touched file is put back as it was. Returns what was there. */
async function apply(dir: string, plan: Plan): Promise<Map<string, string | undefined>> {
  const backup = new Map<string, string | undefined>();
  const touched = [...plan.writes.map((w) => w.path), ...plan.delete];
  await eachLimit(touched, 64, async (p) => {
    backup.set(p, await readMaybe(join(dir, p)));
  });
  try {
    const dirs = [...new Set(plan.writes.map((w) => dirname(join(dir, w.path))))].sort();
    await eachLimit(dirs, 64, async (d) => {
      await mkdir(d, { recursive: true });
    });
    await eachLimit(plan.writes, 64, (w) => writeFile(join(dir, w.path), w.content));
    await eachLimit(plan.delete, 64, (p) => unlink(join(dir, p)));
  } catch (e) {
    await restore(dir, backup);
    throw e;
  }
  return backup;
}

async function restore(dir: string, backup: Map<string, string | undefined>): Promise<void> {
  for (const [p, content] of backup) {
    if (content === undefined) await rm(join(dir, p), { force: true });
    else {
      await mkdir(dirname(join(dir, p)), { recursive: true });
      await writeFile(join(dir, p), content);
    }
  }
}

function commitMessage(stack: string, changes: string[]): string {
  const subject = `llmstack: update stack "${stack}" (${changes.length} unit${changes.length === 1 ? '' : 's'} changed)`;
  return `${subject}\n\n${changes.map((c) => `- ${c}`).join('\n')}\n`;
}

async function commit(git: SimpleGit, dir: string, stack: string, plan: Plan, base: string): Promise<{ sha: string; changes: string[] }> {
  const changes = describeChanges(plan, base);
  const paths = [...plan.writes.map((w) => w.path), ...plan.delete];
  // Thousands of paths do not fit a command line; git reads them from a file in its own directory.
  const gitDir = resolve(dir, (await git.revparse(['--git-dir'])).trim());
  const pathspec = join(gitDir, 'llmstack-pathspec');
  await writeFile(pathspec, `${paths.join('\n')}\n`);
  try {
    await git.raw(['add', '-A', `--pathspec-from-file=${pathspec}`]);
    const env = {
      GIT_AUTHOR_NAME: process.env.GIT_AUTHOR_NAME ?? AUTHOR.name,
      GIT_AUTHOR_EMAIL: process.env.GIT_AUTHOR_EMAIL ?? AUTHOR.email,
      GIT_COMMITTER_NAME: process.env.GIT_COMMITTER_NAME ?? AUTHOR.name,
      GIT_COMMITTER_EMAIL: process.env.GIT_COMMITTER_EMAIL ?? AUTHOR.email,
    };
    // --only: a user's other staged changes stay staged and out of this commit.
    await git
      .env(gitEnv(env))
      .raw(['commit', '--quiet', '--no-verify', '-m', commitMessage(stack, changes), '--only', `--pathspec-from-file=${pathspec}`]);
  } catch (e) {
    // Unstage only what this run staged; the caller restores the files themselves.
    await git.raw(['reset', '-q', `--pathspec-from-file=${pathspec}`]).catch(() => undefined);
    throw e;
  } finally {
    await rm(pathspec, { force: true });
  }
  const sha = (await git.revparse(['HEAD'])).trim();
  return { sha, changes };
}

/** Renders, writes, commits and pushes; a re-run with nothing to change makes no commit. */
export async function generateToGit(req: GenerateRequest): Promise<GenerateResult> {
  const t = req.target;
  const log = req.log ?? (() => undefined);
  const temp = t.dir ? undefined : await mkdtemp(join(tmpdir(), 'llmstack-'));
  const dir = resolve(t.dir ?? temp!);
  try {
    if (req.dryRun && t.dir && !(await isDir(dir))) {
      const plan = await planInEmpty(req);
      return { plan, changes: describeChanges(plan, t.base), pushed: false, dir };
    }
    const git = await prepare(dir, t);
    const attempts = req.maxPushAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const plan = await planIn(dir, req.stack, t.base, req.render());
      if (plan.conflicts.length > 0) {
        throw new UserError(
          `these files exist in the repo but were not written by llmstack: ${plan.conflicts.join(', ')}`,
          EXIT.invalidInput,
          'move or delete them (llmstack never overwrites files it does not own), or choose another spec.git.path',
        );
      }
      const changes = describeChanges(plan, t.base);
      if (req.dryRun || isEmpty(plan)) return { plan, changes, pushed: false, dir };
      const backup = await apply(dir, plan);
      let sha: string;
      try {
        ({ sha } = await commit(git, dir, req.stack, plan, t.base));
      } catch (e) {
        await restore(dir, backup);
        throw e instanceof UserError ? e : gitError(e, t.url);
      }
      if (!t.url || req.push === false) return { plan, changes, commit: sha, pushed: false, dir };
      try {
        await git.push('origin', `HEAD:refs/heads/${t.branch}`);
        return { plan, changes, commit: sha, pushed: true, dir };
      } catch (e) {
        const rejected = /non-fast-forward|fetch first|rejected|failed to update ref|cannot lock ref/i.test(String(e));
        if (!rejected || attempt >= attempts) {
          // Our commit stays local; nothing on the remote changed and the working copy is consistent.
          throw rejected
            ? new UserError(`git: push to ${t.url} was rejected ${attempts} times (others keep pushing)`, EXIT.git, 'run generate again')
            : gitError(e, t.url);
        }
        log(`push rejected (attempt ${attempt}/${attempts}): fetching and rendering again`);
        await git.raw(['reset', '--keep', 'HEAD~1']);
        await new Promise((r) => setTimeout(r, 100 * attempt + Math.floor(Math.random() * 200)));
        await pullLatest(git, t);
      }
    }
  } finally {
    if (temp) await rm(temp, { recursive: true, force: true });
  }
}

async function planInEmpty(req: GenerateRequest): Promise<Plan> {
  const prefix = req.target.base ? `${req.target.base}/` : '';
  const desired = req.render().map((f) => ({ path: prefix + f.path, content: f.content }));
  return computePlan(req.stack, desired, new Map(), [], `${prefix}${OWNED_FILE}`);
}

export { OWNED_FILE };
