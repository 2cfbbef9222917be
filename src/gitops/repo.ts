// The one writer of Git. It renders into a working copy, writes only files llmstack owns, commits
// them in one commit, and pushes, retrying a non-fast-forward by fetching and rendering again.
// Any failure before the commit restores every file it touched: nothing partial is ever left.
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { EXIT, UserError } from '../errors.js';
import type { RenderedFile } from '../render/index.js';
import { checkGitUrl, redact } from '../spec/urls.js';
import { computePlan, describeChanges, isEmpty, OWNED_FILE, type OwnedList, type Plan } from './plan.js';

export interface GitTarget {
  /** Local working copy. Created (git init, or clone when `url` is set) if missing or empty. */
  dir?: string;
  /** Remote to clone from and push to. */
  url?: string;
  branch: string;
  /** Sub-folder of the repo that llmstack owns; "" for the root. */
  base: string;
  /**
   * Basic-auth credentials for an HTTP remote: handed to git through its environment and a credential
   * helper that reads it, never on a command line (where `ps` shows it) nor in .git/config.
   */
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

// The credential helper git runs on a 401: it prints the user name and password from its environment,
// so neither is ever an argument of any process, and only for the remote's own host (not for a host a
// redirect leads to). `store` and `erase` requests are ignored.
export const CREDENTIAL_HELPER =
  '!f() { test "$1" = get || return 0; h=; while IFS= read -r l; do case "$l" in host=*) h="${l#host=}";; esac; done; ' +
  'test -z "$LLMSTACK_GIT_HOST" || test "$h" = "$LLMSTACK_GIT_HOST" || return 0; ' +
  'printf "username=%s\\npassword=%s\\n" "$LLMSTACK_GIT_USERNAME" "$LLMSTACK_GIT_PASSWORD"; }; f';

type Auth = NonNullable<GitTarget['auth']> & { host?: string };

/** The target with its credentials bound to the remote's host (as git names it: host[:port]). */
function scoped(t: GitTarget): GitTarget & { auth?: Auth } {
  if (!t.auth || !t.url) return t;
  let host: string | undefined;
  try {
    host = new URL(t.url).host || undefined;
  } catch {
    host = undefined;
  }
  return { ...t, auth: { ...t.auth, host } };
}

function gitFor(dir: string, auth?: Auth): SimpleGit {
  // The empty helper first clears the user's own helpers for this command, so that git neither
  // answers with another credential nor hands ours to a helper that stores it (git's `store` step).
  const config = auth ? ['credential.helper=', `credential.helper=${CREDENTIAL_HELPER}`] : [];
  return simpleGit({ baseDir: dir, config, unsafe: { allowUnsafeCredentialHelper: true } }).env(gitEnv(auth));
}

/**
 * A small environment for git: no editor or pager, no prompts (a missing credential fails fast), no
 * optional index writes by read-only commands (`git status` leaves the repo byte for byte as it was).
 */
function gitEnv(auth?: Auth, extra: Record<string, string> = {}): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'GIT_SSL_CAINFO', 'GIT_SSL_NO_VERIFY', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'XDG_CONFIG_HOME', 'GIT_CONFIG_GLOBAL', 'GIT_CONFIG_NOSYSTEM'];
  const env: Record<string, string> = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  const creds: Record<string, string> = auth ? { LLMSTACK_GIT_USERNAME: auth.username, LLMSTACK_GIT_PASSWORD: auth.password, ...(auth.host ? { LLMSTACK_GIT_HOST: auth.host } : {}) } : {};
  return { ...env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', ...creds, ...extra };
}

const secretsOf = (auth?: GitTarget['auth']) => (auth ? [auth.password, Buffer.from(`${auth.username}:${auth.password}`).toString('base64')] : []);

/** Refuses a remote URL that git could take for an option or that carries a credential. */
export function checkRemote(url: string, source = 'the Git remote'): void {
  const p = checkGitUrl(url, { local: true });
  if (p) throw new UserError(`${source} ${redact(url)}: ${p.message}`, EXIT.invalidInput, p.fix);
}

/** Turns git's failures into errors that say what to do; credentials are redacted from git's text. */
export function gitError(e: unknown, url?: string, auth?: GitTarget['auth']): UserError {
  const msg = redact(e instanceof Error ? e.message : String(e), secretsOf(auth));
  if (/Authentication failed|could not read Username|401|403|terminal prompts disabled/i.test(msg)) {
    return new UserError(
      `git: the remote ${url ? redact(url) : ''} refused the credentials`.replace(/\s+/g, ' '),
      EXIT.git,
      'set LLMSTACK_GIT_USERNAME and LLMSTACK_GIT_PASSWORD (a token works as password) or configure a git credential helper',
    );
  }
  if (/Could not resolve host|Connection refused|Failed to connect|unable to access/i.test(msg)) {
    return new UserError(`git: cannot reach ${url ? redact(url) : 'the remote'}: ${msg.trim().split('\n').pop()}`, EXIT.git, 'check spec.git.url and the network');
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
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'EISDIR') throw new UserError(`${p} is a folder where llmstack keeps a file`, EXIT.invalidInput, 'move that folder away, or choose another spec.git.path');
    throw e;
  }
}

/**
 * Why `rel` may not be a path llmstack reads or writes, if it may not: every path, from the spec or
 * from owned.json, stays inside `prefix` of the working tree and out of Git's own folder.
 */
export function pathProblem(rel: unknown, prefix: string): string | undefined {
  if (typeof rel !== 'string' || rel === '') return 'is not a file path';
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel) || rel.includes('\\') || rel.includes('\0')) return 'is not a relative path';
  const parts = rel.split('/');
  if (parts.some((c) => c === '' || c === '.' || c === '..')) return 'leaves the repository (or has an empty, "." or ".." part)';
  if (parts.some((c) => c.toLowerCase() === '.git')) return "is inside Git's own folder .git";
  if (prefix && !rel.startsWith(prefix)) return `is outside llmstack's folder ${prefix.replace(/\/$/, '')}`;
  return undefined;
}

/** Refuses a path whose folders (or the file itself) are symbolic links: a write would land elsewhere. */
async function refuseLinks(dir: string, paths: Iterable<string>): Promise<void> {
  const seen = new Map<string, Promise<string | undefined>>();
  const check = (rel: string) => {
    let p = seen.get(rel);
    if (!p) {
      p = lstat(join(dir, rel)).then(
        (s) => (s.isSymbolicLink() ? `${rel} is a symbolic link` : undefined),
        (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : e.code === 'ENOTDIR' ? `${dirname(rel)} is a file where llmstack needs a folder` : `${rel}: ${e.code}`),
      );
      seen.set(rel, p);
    }
    return p;
  };
  for (const rel of paths) {
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const problem = await check(parts.slice(0, i).join('/'));
      if (problem) throw new UserError(`${problem}: llmstack writes only regular files and folders inside the repository`, EXIT.invalidInput, 'replace it with a real folder or file (or remove it), or choose another spec.git.path');
    }
  }
}

/** What exists at `dir` before anything is written: "missing", "empty" or "used". */
async function probeOut(dir: string): Promise<'missing' | 'empty' | 'used'> {
  let s;
  try {
    s = await stat(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      // A parent that is a file makes mkdir fail half-way: say so before creating anything.
      let parent = dirname(dir);
      while (parent !== dirname(parent) && !(await stat(parent).then(() => true, () => false))) parent = dirname(parent);
      if (!(await isDir(parent))) throw new UserError(`--out ${dir}: ${parent} is a file, not a folder`, EXIT.invalidInput, 'pass --out with a folder path, or move that file away');
      return 'missing';
    }
    throw new UserError(`--out ${dir}: cannot read it (${code})`, EXIT.invalidInput, 'check the path and its permissions');
  }
  if (!s.isDirectory()) throw new UserError(`--out ${dir} is a file, not a folder`, EXIT.invalidInput, 'pass --out with an empty folder, a Git working copy, or a path that does not exist yet');
  return (await readdir(dir)).length === 0 ? 'empty' : 'used';
}

interface WorkingCopy {
  git: SimpleGit;
  /** Removes what a failed first run created, so the next run starts from the same state. */
  undo?: () => Promise<void>;
}

/** Makes `dir` a working copy on the target branch: created (init or clone) when missing or empty. */
async function open(dir: string, t: GitTarget): Promise<WorkingCopy> {
  const state = await probeOut(dir);
  if (state !== 'used') {
    const created = state === 'missing' ? await mkdir(dir, { recursive: true }) : undefined;
    const undo = async () => {
      if (created) await rm(created, { recursive: true, force: true });
      else for (const e of await readdir(dir)) await rm(join(dir, e), { recursive: true, force: true });
    };
    const git = gitFor(dir, t.auth);
    try {
      await create(git, dir, t);
    } catch (e) {
      await undo();
      throw e;
    }
    return { git, undo };
  }
  const git = gitFor(dir, t.auth);
  const top = await git.raw(['rev-parse', '--show-toplevel']).then(
    (o) => o.trim(),
    () => undefined,
  );
  if (top === undefined) {
    throw new UserError(`${dir} exists, is not empty and is not a Git repository`, EXIT.invalidInput, 'pass --out with an empty folder or an existing Git working copy');
  }
  if ((await realpath(top)) !== (await realpath(dir))) {
    throw new UserError(`${dir} is a folder inside the Git repository ${top}, not its top`, EXIT.invalidInput, `pass --out ${top} and set spec.git.path to the folder llmstack should own`);
  }
  const branch = (await git.raw(['rev-parse', '--abbrev-ref', 'HEAD']).catch(() => t.branch)).trim();
  if (branch !== t.branch && branch !== 'HEAD') {
    throw new UserError(`${dir} is on branch "${branch}", the spec says "${t.branch}"`, EXIT.invalidInput, `check out "${t.branch}" there, or set spec.git.branch`);
  }
  return { git };
}

async function create(git: SimpleGit, dir: string, t: GitTarget): Promise<void> {
  if (!t.url) {
    await git.init(['--quiet', `--initial-branch=${t.branch}`]).catch((e: unknown) => {
      throw gitError(e);
    });
    return;
  }
  try {
    await git.clone(t.url, '.', ['--branch', t.branch, '--']);
  } catch (e) {
    // An empty remote has no branch yet: clone without one and start it.
    if (!/Remote branch .* not found|couldn't find remote ref|empty repository/i.test(String(e))) throw gitError(e, t.url, t.auth);
    for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
    await git.clone(t.url, '.', ['--']).catch((e2: unknown) => {
      throw gitError(e2, t.url, t.auth);
    });
    await git.raw(['checkout', '-q', '-B', t.branch]);
  }
}

/** Points origin at the remote we were given (a port-forward may have moved) and fetches; on failure origin is put back. */
async function syncRemote(git: SimpleGit, t: GitTarget & { url: string }): Promise<void> {
  const origin = (await git.getRemotes(true)).find((r) => r.name === 'origin');
  const moved = !origin || origin.refs.push !== t.url || origin.refs.fetch !== t.url;
  if (moved) {
    if (!origin) await git.remote(['add', 'origin', '--', t.url]);
    else await git.remote(['set-url', 'origin', '--', t.url]);
  }
  try {
    await pullLatest(git, t);
  } catch (e) {
    if (moved) {
      if (!origin) await git.remote(['remove', 'origin']).catch(() => undefined);
      else {
        await git.remote(['set-url', 'origin', '--', origin.refs.fetch]).catch(() => undefined);
        if (origin.refs.push !== origin.refs.fetch) await git.remote(['set-url', '--push', 'origin', '--', origin.refs.push]).catch(() => undefined);
      }
    }
    throw e;
  }
}

// simple-git reports a failure only when git also wrote to stderr: a quiet non-zero exit resolves with
// empty output, so these checks read git's output, not its exit code.
async function hasCommits(git: SimpleGit): Promise<boolean> {
  return git.raw(['rev-parse', '--verify', '-q', 'HEAD']).then(
    (out) => out.trim() !== '',
    () => false,
  );
}

async function pullLatest(git: SimpleGit, t: GitTarget): Promise<void> {
  try {
    // No FETCH_HEAD: a failed fetch would leave an empty one behind in .git.
    await git.fetch('origin', t.branch, ['--no-write-fetch-head']);
  } catch (e) {
    if (/couldn't find remote ref/i.test(String(e))) return; // branch not pushed yet
    throw gitError(e, t.url, t.auth);
  }
  if (await hasCommits(git)) await git.raw(['rebase', '--autostash', `origin/${t.branch}`]).catch((e: unknown) => {
    throw gitError(e, t.url, t.auth);
  });
  else await git.raw(['reset', '--hard', `origin/${t.branch}`]);
}

/** Paths with uncommitted changes (staged, unstaged or untracked), relative to the top of the working tree. */
async function localChanges(git: SimpleGit): Promise<Set<string>> {
  const out = await git.raw(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames', '--ignore-submodules=all']);
  return new Set(out.split('\0').filter((e) => e.length > 3).map((e) => e.slice(3)));
}

/** Refuses to overwrite or delete uncommitted changes, as git checkout does. */
async function refuseLocalChanges(git: SimpleGit, dir: string, paths: Iterable<string>): Promise<void> {
  const changed = await localChanges(git);
  const hit = [...new Set(paths)].filter((p) => changed.has(p)).sort();
  if (hit.length === 0) return;
  const shown = hit.slice(0, 10).join(', ') + (hit.length > 10 ? ` and ${hit.length - 10} more` : '');
  throw new UserError(
    `uncommitted changes to files llmstack writes would be overwritten: ${shown}`,
    EXIT.invalidInput,
    `commit them (git -C ${dir} commit -a), or put them aside (git -C ${dir} stash -u) or discard them (git -C ${dir} checkout -- PATH), then run generate again`,
  );
}

async function readOwned(dir: string, ownedPath: string, stack: string, prefix: string): Promise<string[]> {
  const text = await readMaybe(join(dir, ownedPath));
  if (text === undefined) return [];
  let parsed: OwnedList;
  const restore = `restore it from Git history (git -C ${dir} checkout HEAD -- ${ownedPath}), or delete it and the files it listed`;
  try {
    parsed = JSON.parse(text) as OwnedList;
  } catch {
    throw new UserError(`${ownedPath} in the repo is not valid JSON`, EXIT.invalidInput, restore);
  }
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.stack !== 'string' || !Array.isArray(parsed.files)) {
    throw new UserError(`${ownedPath} in the repo is not a list of owned files ({"stack": NAME, "files": [PATH, ...]})`, EXIT.invalidInput, restore);
  }
  if (parsed.stack !== stack) {
    throw new UserError(
      `${ownedPath} belongs to stack "${parsed.stack}", not "${stack}"`,
      EXIT.invalidInput,
      'give each stack its own spec.git.path, or rename the stack back',
    );
  }
  for (const f of parsed.files) {
    const problem = pathProblem(f, prefix);
    if (problem || f === ownedPath) {
      throw new UserError(
        `${ownedPath} lists ${JSON.stringify(f)}, which ${problem ?? 'is the list itself'}: llmstack never touches a file there`,
        EXIT.invalidInput,
        restore,
      );
    }
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
  if (base && pathProblem(base, '')) throw new UserError(`spec.git.path "${base}" ${pathProblem(base, '')}`, EXIT.invalidInput, 'write a folder inside the repository, such as "clusters/dev"');
  const ownedPath = `${prefix}${OWNED_FILE}`;
  const desired = files.map((f) => ({ path: prefix + f.path, content: f.content }));
  for (const f of desired) {
    const problem = pathProblem(f.path, prefix);
    if (problem) throw new Error(`rendered path ${f.path} ${problem}`); // a renderer bug, not bad input
  }
  const owned = await readOwned(dir, ownedPath, stack, prefix);
  const paths = [...new Set([...desired.map((f) => f.path), ...owned, ownedPath])];
  await refuseLinks(dir, paths);
  const current = new Map<string, string | undefined>();
  await eachLimit(paths, 64, async (p) => {
    current.set(p, await readMaybe(join(dir, p)));
  });
  return { plan: computePlan(stack, desired, current, owned, ownedPath), current };
}

/** Runs `fn` on a read-only view of the target: the local working copy, or a temporary clone. */
export async function withCheckout<T>(target: GitTarget, fn: (dir: string | undefined) => Promise<T>): Promise<T> {
  if (target.url) checkRemote(target.url);
  const t = scoped(target);
  if (t.dir) {
    const state = await probeOut(resolve(t.dir));
    if (state === 'used') await open(resolve(t.dir), { ...t, url: undefined });
    return fn(state === 'used' ? resolve(t.dir) : undefined);
  }
  const temp = await mkdtemp(join(tmpdir(), 'llmstack-'));
  try {
    await open(temp, t);
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

/** A file as it was before a write: its bytes and mode, or absent. */
type Saved = { data: Buffer; mode: number } | undefined;

async function save(p: string): Promise<Saved> {
  try {
    const [data, s] = await Promise.all([readFile(p), stat(p)]);
    return { data, mode: s.mode & 0o7777 };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** Writes a plan; on any failure every touched file is put back as it was. Returns what was there. */
async function apply(dir: string, plan: Plan): Promise<{ backup: Map<string, Saved>; dirs: string[] }> {
  const backup = new Map<string, Saved>();
  const touched = [...plan.writes.map((w) => w.path), ...plan.delete];
  await eachLimit(touched, 64, async (p) => {
    backup.set(p, await save(join(dir, p)));
  });
  // Folders this run creates, to remove again when it fails.
  const made: string[] = [];
  try {
    const dirs = [...new Set(plan.writes.map((w) => dirname(join(dir, w.path))))].sort();
    for (const d of dirs) {
      const first = await mkdir(d, { recursive: true });
      if (first) made.push(first);
    }
    await eachLimit(plan.writes, 64, (w) => writeFile(join(dir, w.path), w.content));
    await eachLimit(plan.delete, 64, (p) => unlink(join(dir, p)));
  } catch (e) {
    await restore(dir, backup, made);
    throw e;
  }
  return { backup, dirs: made };
}

async function restore(dir: string, backup: Map<string, Saved>, made: string[] = []): Promise<void> {
  for (const [p, saved] of backup) {
    if (saved === undefined) await rm(join(dir, p), { force: true });
    else {
      await mkdir(dirname(join(dir, p)), { recursive: true });
      await writeFile(join(dir, p), saved.data, { mode: saved.mode });
      await chmod(join(dir, p), saved.mode);
    }
  }
  for (const d of [...made].reverse()) await rm(d, { recursive: true, force: true });
}

function commitMessage(stack: string, changes: string[]): string {
  const subject = `llmstack: update stack "${stack}" (${changes.length} unit${changes.length === 1 ? '' : 's'} changed)`;
  return `${subject}\n\n${changes.map((c) => `- ${c}`).join('\n')}\n`;
}

/** Commits the plan's paths; `undefined` when they already match HEAD (nothing to commit). */
async function commit(git: SimpleGit, dir: string, stack: string, plan: Plan, base: string, auth: Auth | undefined): Promise<{ sha: string; changes: string[] } | undefined> {
  const changes = describeChanges(plan, base);
  const paths = [...plan.writes.map((w) => w.path), ...plan.delete];
  // Thousands of paths do not fit a command line; git reads them from a file in its own directory.
  const gitDir = resolve(dir, (await git.revparse(['--git-dir'])).trim());
  const pathspec = join(gitDir, 'llmstack-pathspec');
  const before = (await hasCommits(git)) ? (await git.revparse(['HEAD'])).trim() : undefined;
  await writeFile(pathspec, `${paths.join('\n')}\n`);
  try {
    await git.raw(['add', '-A', `--pathspec-from-file=${pathspec}`]);
    if (before) {
      const staged = new Set((await git.raw(['diff', '--cached', '--name-only', '-z', '--no-renames', 'HEAD'])).split('\0'));
      if (!paths.some((p) => staged.has(p))) return undefined;
    }
    const env = {
      GIT_AUTHOR_NAME: process.env.GIT_AUTHOR_NAME ?? AUTHOR.name,
      GIT_AUTHOR_EMAIL: process.env.GIT_AUTHOR_EMAIL ?? AUTHOR.email,
      GIT_COMMITTER_NAME: process.env.GIT_COMMITTER_NAME ?? AUTHOR.name,
      GIT_COMMITTER_EMAIL: process.env.GIT_COMMITTER_EMAIL ?? AUTHOR.email,
    };
    // --only: a user's other staged changes stay staged and out of this commit.
    await git
      .env(gitEnv(auth, env))
      .raw(['commit', '--quiet', '--no-verify', '-m', commitMessage(stack, changes), '--only', `--pathspec-from-file=${pathspec}`]);
  } catch (e) {
    // Unstage only what this run staged; the caller restores the files themselves.
    await git.raw(['reset', '-q', `--pathspec-from-file=${pathspec}`]).catch(() => undefined);
    throw e;
  } finally {
    git.env(gitEnv(auth));
    await rm(pathspec, { force: true });
  }
  const sha = (await git.revparse(['HEAD'])).trim();
  if (sha === before) throw new Error('git commit succeeded but HEAD did not move');
  return { sha, changes };
}

/** Renders, writes, commits and pushes; a re-run with nothing to change makes no commit. */
export async function generateToGit(req: GenerateRequest): Promise<GenerateResult> {
  if (req.target.url) checkRemote(req.target.url);
  const t = scoped(req.target);
  const log = req.log ?? (() => undefined);
  const temp = t.dir ? undefined : await mkdtemp(join(tmpdir(), 'llmstack-'));
  const dir = resolve(t.dir ?? temp!);
  const prefix = t.base ? `${t.base}/` : '';
  const ownedPath = `${prefix}${OWNED_FILE}`;
  let undo: (() => Promise<void>) | undefined;
  try {
    if (req.dryRun && t.dir && (await probeOut(dir)) === 'missing') {
      const plan = await planInEmpty(req);
      return { plan, changes: describeChanges(plan, t.base), pushed: false, dir };
    }
    const wc = await open(dir, t);
    const { git } = wc;
    undo = wc.undo;
    if (!wc.undo) {
      // Before anything moves: the owned list and the files it names must have no uncommitted changes.
      await refuseLocalChanges(git, dir, [ownedPath]);
      await refuseLocalChanges(git, dir, await readOwned(dir, ownedPath, req.stack, prefix));
      if (t.url) await syncRemote(git, { ...t, url: t.url });
    }
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
      if (req.dryRun || isEmpty(plan)) {
        // A dry run leaves no fresh folder behind.
        if (req.dryRun && undo) await undo();
        return { plan, changes, pushed: false, dir };
      }
      await refuseLocalChanges(git, dir, [...plan.writes.map((w) => w.path), ...plan.delete]);
      const { backup, dirs } = await apply(dir, plan);
      let made: { sha: string; changes: string[] } | undefined;
      try {
        made = await commit(git, dir, req.stack, plan, t.base, t.auth);
      } catch (e) {
        await restore(dir, backup, dirs);
        throw e instanceof UserError ? e : gitError(e, t.url, t.auth);
      }
      // From here on a commit exists: a failed push keeps it, and the folder is no longer undone.
      undo = undefined;
      if (!made) return { plan, changes, pushed: false, dir };
      const sha = made.sha;
      if (!t.url || req.push === false) return { plan, changes, commit: sha, pushed: false, dir };
      try {
        await git.push('origin', `HEAD:refs/heads/${t.branch}`);
        return { plan, changes, commit: sha, pushed: true, dir };
      } catch (e) {
        const rejected = /non-fast-forward|fetch first|rejected|failed to update ref|cannot lock ref/i.test(String(e));
        if (!rejected || attempt >= attempts) {
          // Our commit stays local; nothing on the remote changed and the working copy is consistent.
          throw rejected
            ? new UserError(`git: push to ${redact(t.url)} was rejected ${attempts} times (others keep pushing)`, EXIT.git, 'run generate again')
            : gitError(e, t.url, t.auth);
        }
        log(`push rejected (attempt ${attempt}/${attempts}): fetching and rendering again`);
        await git.raw(['reset', '--keep', 'HEAD~1']);
        await new Promise((r) => setTimeout(r, 100 * attempt + Math.floor(Math.random() * 200)));
        await pullLatest(git, t);
      }
    }
  } catch (e) {
    if (undo) await undo().catch(() => undefined);
    throw e;
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
