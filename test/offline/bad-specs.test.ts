// Every bad spec gets its exact message (file, line, field path, fix) and leaves the repo as it was.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCommand } from '../../src/cli/generate.js';
import { SpecError } from '../../src/errors.js';
import { BAD_CASES, GOOD } from './bad-specs.cases.js';

let work: string;
let repo: string;
const quiet = () => undefined;
const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'llmstack-bad-'));
  repo = join(work, 'repo');
  await writeFile(join(work, 'good.yaml'), GOOD);
  await generateCommand({ spec: join(work, 'good.yaml'), out: repo }, quiet, quiet);
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('bad specs', () => {
  it('has at least 20 cases', () => expect(BAD_CASES.length).toBeGreaterThanOrEqual(20));

  for (const c of BAD_CASES) {
    it(c.name, async () => {
      const head = git('rev-parse', 'HEAD');
      const tree = git('ls-files', '-s');
      const file = join(work, 'bad.yaml');
      await writeFile(file, c.spec);
      const err = await generateCommand({ spec: file, out: repo }, quiet, quiet).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SpecError);
      expect((err as SpecError).exitCode).toBe(2);
      expect((err as SpecError).render().replaceAll(file, 'bad.yaml')).toBe(c.message);
      expect(git('rev-parse', 'HEAD')).toBe(head);
      expect(git('ls-files', '-s')).toBe(tree);
      expect(git('status', '--porcelain')).toBe('');
    });
  }
});
