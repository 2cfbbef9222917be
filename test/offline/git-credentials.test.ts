// Credentials stay out of sight: no git process llmstack starts has one in its arguments (which any
// user sees in `ps`), none lands in .git/config, in history or in a message, and a URL that carries
// one in any form is refused before a single git process starts or a file is written.
import { execFile, execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffCommand } from '../../src/cli/diff.js';
import { generateCommand } from '../../src/cli/generate.js';
import { UserError } from '../../src/errors.js';
import { CREDENTIAL_HELPER } from '../../src/gitops/repo.js';
import { startGitServer, type GitServer } from '../support/git-server.js';

const PASSWORD = 'p4ss-Very-Secret-7391';
const USERNAME = 'llmstack';
const BASIC = Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64');

let server: GitServer;
let work: string;
let log: string;
let savedPath: string | undefined;

/** Every argv of every process found in /proc while `fn` runs (catches git's own children too). */
async function watchProcesses<T>(fn: () => Promise<T>): Promise<{ result: T | unknown; argvs: Set<string> }> {
  const argvs = new Set<string>();
  let running = true;
  const poll = (async () => {
    // Bounded: at most 20 000 sweeps, and it stops when fn is done.
    for (let i = 0; running && i < 20_000; i++) {
      for (const pid of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid)) continue;
        const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmd) argvs.add(cmd.split('\0').join(' '));
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  const result = await fn().catch((e: unknown) => e);
  running = false;
  await poll;
  return { result, argvs };
}

beforeAll(async () => {
  server = await startGitServer({ username: USERNAME, password: PASSWORD });
  work = await mkdtemp(join(tmpdir(), 'llmstack-creds-'));
  // A `git` first on PATH that records its arguments, then runs the real git.
  const bin = join(work, 'bin');
  await mkdir(bin);
  log = join(work, 'git-argv.log');
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  await writeFile(join(bin, 'git'), `#!/bin/sh\nprintf '%s\\037' "$@" >> '${log}'\nprintf '\\n' >> '${log}'\nexec '${realGit}' "$@"\n`);
  await chmod(join(bin, 'git'), 0o755);
  savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${process.env.PATH}`;
});
afterAll(async () => {
  process.env.PATH = savedPath;
  delete process.env.LLMSTACK_GIT_USERNAME;
  delete process.env.LLMSTACK_GIT_PASSWORD;
  await server.stop();
  await rm(work, { recursive: true, force: true });
});

const recorded = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => l.split('\x1f').filter(Boolean));

function spec(name: string, url: string): string {
  return `apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: ${name}}\nspec:\n  git: {url: "${url}"}\n  clusters: [{name: a, class: docker-llm}]\n`;
}

describe('HTTP credentials', () => {
  it('reach the server through the environment, never through any argument, config, commit or message', async () => {
    server.createRepo('creds');
    const specFile = join(work, 'creds.yaml');
    await writeFile(specFile, spec('creds', server.repoUrl('creds')));
    const out = join(work, 'creds-wc');
    process.env.LLMSTACK_GIT_USERNAME = USERNAME;
    process.env.LLMSTACK_GIT_PASSWORD = PASSWORD;
    const printed: string[] = [];
    const { result, argvs } = await watchProcesses(async () => {
      await generateCommand({ spec: specFile, out }, (l) => printed.push(l), (l) => printed.push(l));
      // A second spec change: fetch, rebase, commit and push again through the same working copy.
      await writeFile(specFile, spec('creds', server.repoUrl('creds')).replace('{name: a,', '{name: b,'));
      await generateCommand({ spec: specFile, out }, (l) => printed.push(l), (l) => printed.push(l));
      // diff clones into a temporary folder with the same credentials.
      return diffCommand({ spec: specFile }, (l) => printed.push(l), (l) => printed.push(l));
    });
    expect(result).toBeInstanceOf(Array); // diff's result: the run did not throw
    expect(printed.filter((l) => l.startsWith('committed')).map((l) => l.endsWith(', pushed'))).toEqual([true, true]);

    // The server saw authenticated pushes: the credentials did reach git.
    expect(server.requests.filter((r) => r === 'POST /creds.git/git-receive-pack')).toHaveLength(2);

    const calls = await recorded();
    expect(calls.map((a) => a.find((x) => !x.startsWith('-') && !x.includes('=')))).toEqual(expect.arrayContaining(['clone', 'fetch', 'push', 'commit']));
    for (const argv of calls) {
      const line = argv.join(' ');
      expect(line).not.toContain(PASSWORD);
      expect(line).not.toContain(BASIC);
      expect(line).not.toMatch(/extraheader|authorization/i);
    }
    // Also git's own children (git-remote-http, the credential helper's shell) seen in /proc.
    expect(argvs.size).toBeGreaterThan(0);
    for (const a of argvs) {
      expect(a).not.toContain(PASSWORD);
      expect(a).not.toContain(BASIC);
    }

    const config = await readFile(join(out, '.git/config'), 'utf8');
    expect(config).not.toContain(PASSWORD);
    expect(config).not.toMatch(/extraheader|credential/i);
    const history = execFileSync('git', ['-C', out, 'log', '-p', '--all'], { encoding: 'utf8' });
    expect(history).not.toContain(PASSWORD);
    expect(await readFile(join(out, 'bootstrap/gitrepos.yaml'), 'utf8')).toContain(`repo: ${server.repoUrl('creds')}\n`);
    expect(printed.join('\n')).not.toContain(PASSWORD);
  });

  it('are redacted from the message when the server refuses them', async () => {
    server.createRepo('wrong');
    const specFile = join(work, 'wrong.yaml');
    await writeFile(specFile, spec('wrong', server.repoUrl('wrong')));
    process.env.LLMSTACK_GIT_USERNAME = USERNAME;
    process.env.LLMSTACK_GIT_PASSWORD = 'wrong-but-secret-4711';
    const err = await generateCommand({ spec: specFile, out: join(work, 'wrong-wc') }, () => undefined, () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(3);
    expect((err as UserError).render()).toBe(
      `git: the remote ${server.repoUrl('wrong')} refused the credentials\n  fix: set LLMSTACK_GIT_USERNAME and LLMSTACK_GIT_PASSWORD (a token works as password) or configure a git credential helper`,
    );
    await expect(stat(join(work, 'wrong-wc'))).rejects.toThrow(/ENOENT/);
  });

  it('are not handed to a credential helper of the user that would store them', async () => {
    // A global git config whose helper would write every credential it is given to a file.
    const home = join(work, 'home');
    await mkdir(home, { recursive: true });
    const stored = join(home, 'stored');
    await writeFile(join(home, '.gitconfig'), `[credential]\n\thelper = "!f() { cat >> '${stored}'; }; f"\n`);
    server.createRepo('helper');
    const specFile = join(work, 'helper.yaml');
    await writeFile(specFile, spec('helper', server.repoUrl('helper')));
    const savedHome = process.env.HOME;
    process.env.HOME = home;
    process.env.LLMSTACK_GIT_USERNAME = USERNAME;
    process.env.LLMSTACK_GIT_PASSWORD = PASSWORD;
    try {
      await generateCommand({ spec: specFile, out: join(work, 'helper-wc') }, () => undefined, () => undefined);
    } finally {
      process.env.HOME = savedHome;
    }
    expect(server.requests).toContain('POST /helper.git/git-receive-pack');
    expect(await readFile(stored, 'utf8').catch(() => '')).not.toContain(PASSWORD);
  });
});

describe('the credential helper', () => {
  // `git credential fill` asks the helpers as a fetch or push would, with the request on stdin.
  const fill = (host: string) =>
    promisify(execFile)('sh', ['-c', `printf '%s' "$REQ" | git -c credential.helper= -c credential.helper="$HELPER" credential fill`], {
      env: {
        PATH: process.env.PATH,
        HOME: work,
        GIT_TERMINAL_PROMPT: '0',
        REQ: `protocol=https\nhost=${host}\npath=team/gitops.git\n\n`,
        HELPER: CREDENTIAL_HELPER,
        LLMSTACK_GIT_USERNAME: USERNAME,
        LLMSTACK_GIT_PASSWORD: PASSWORD,
        LLMSTACK_GIT_HOST: 'git.example.test:8443',
      },
      encoding: 'utf8',
    }).then(
      (r) => r.stdout,
      (e: { stdout?: string }) => `failed: ${e.stdout ?? ''}`,
    );

  it("answers for the remote's own host only, never for one a redirect leads to", async () => {
    expect(await fill('git.example.test:8443')).toBe(`protocol=https\nhost=git.example.test:8443\nusername=${USERNAME}\npassword=${PASSWORD}\n`);
    const other = await fill('elsewhere.example.test');
    expect(other).toMatch(/^failed: /);
    expect(other).not.toContain(PASSWORD);
  });
});

describe('a URL with a credential in any form', () => {
  const forms = [
    'https://ghp_tokenAsUser0001@git.example.test/team/gitops.git',
    'https://bot:ghp_tokenAsPassword0002@git.example.test/team/gitops.git',
    'http://oauth2:glpat-0003@git.example.test/team/gitops.git',
    'https://git.example.test/team/gitops.git?private_token=glpat-0004',
    'https://git.example.test/team/gitops.git?access_token=0005',
    'https://git.example.test/team/gitops.git#token=0006',
    'ssh://git:password0007@git.example.test/team/gitops.git',
  ];
  const secretOf = (url: string) => /(ghp_\w+|glpat-\d+|0005|0006|password0007)/.exec(url)![1]!;

  for (const [i, url] of forms.entries()) {
    for (const via of ['spec.git.url', '--remote', 'LLMSTACK_GIT_REMOTE'] as const) {
      it(`is refused via ${via} before anything runs: ${url.replace(secretOf(url), '…')}`, async () => {
        const specFile = join(work, `form-${i}.yaml`);
        await writeFile(specFile, via === 'spec.git.url' ? spec('form', url) : spec('form', 'https://git.example.test/team/gitops.git'));
        const out = join(work, `form-${i}-${via}`);
        await writeFile(log, '');
        if (via === 'LLMSTACK_GIT_REMOTE') process.env.LLMSTACK_GIT_REMOTE = url;
        const printed: string[] = [];
        try {
          for (const run of [generateCommand, diffCommand]) {
            const err = await run({ spec: specFile, out, remote: via === '--remote' ? url : undefined }, (l) => printed.push(l), (l) => printed.push(l)).catch(
              (e: unknown) => e,
            );
            expect(err).toBeInstanceOf(UserError);
            expect((err as UserError).exitCode).toBe(2);
            const text = (err as UserError).render();
            expect(text).toMatch(via === 'spec.git.url' ? /spec\.git\.url: / : new RegExp(`^${via} `));
            expect(text).toMatch(/fix: \S/);
            expect(text).not.toContain(secretOf(url));
          }
        } finally {
          delete process.env.LLMSTACK_GIT_REMOTE;
        }
        expect(printed.join('\n')).not.toContain(secretOf(url));
        expect(await recorded()).toEqual([]); // no git process started
        await expect(stat(out)).rejects.toThrow(/ENOENT/); // nothing written
      });
    }
  }
});

describe('the llmstack binary', () => {
  it('keeps the password out of every git argument end to end', async () => {
    server.createRepo('binary');
    const specFile = join(work, 'binary.yaml');
    await writeFile(specFile, spec('binary', server.repoUrl('binary')));
    await writeFile(log, '');
    const repoRoot = join(import.meta.dirname, '../..');
    const r = await promisify(execFile)(process.execPath, [join(repoRoot, 'bin/llmstack.js'), 'generate', '--spec', specFile, '--out', join(work, 'binary-wc')], {
      env: { ...process.env, LLMSTACK_GIT_USERNAME: USERNAME, LLMSTACK_GIT_PASSWORD: PASSWORD },
      encoding: 'utf8',
    });
    expect(r.stdout).toMatch(/, pushed\n$/);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    const calls = await recorded();
    expect(calls.length).toBeGreaterThan(3);
    for (const argv of calls) expect(argv.join(' ')).not.toContain(PASSWORD);
  });
});
