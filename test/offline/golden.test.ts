// Golden files: the whole output tree of every example spec, byte for byte. After an intended
// change, refresh them with `UPDATE_GOLDEN=1 npx vitest run test/offline/golden.test.ts` and review
// the diff like any other change.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { renderStack } from '../../src/render/index.js';
import { loadSpec } from '../../src/spec/load.js';
import { exampleFiles } from '../support/examples.js';
import { repoRoot } from '../support/paths.js';

const update = process.env.UPDATE_GOLDEN === '1';
let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

async function readTree(dir: string, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!existsSync(path.join(dir, prefix))) return out;
  for (const e of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, v] of await readTree(dir, rel)) out.set(k, v);
    else out.set(rel, await readFile(path.join(dir, rel), 'utf8'));
  }
  return out;
}

describe('golden output trees', () => {
  for (const file of exampleFiles) {
    const name = file.replace(/\.yaml$/, '');
    it(name, async () => {
      const stack = await loadSpec(path.join(repoRoot, 'examples', file), catalog);
      const files = renderStack(stack, catalog).files;
      const dir = path.join(repoRoot, 'test', 'golden', name);
      if (update) {
        await rm(dir, { recursive: true, force: true });
        for (const f of files) {
          await mkdir(path.dirname(path.join(dir, f.path)), { recursive: true });
          await writeFile(path.join(dir, f.path), f.content);
        }
      }
      const golden = await readTree(dir);
      expect([...golden.keys()].sort()).toEqual(files.map((f) => f.path));
      for (const f of files) expect(f.content, f.path).toBe(golden.get(f.path));
    });
  }

  it('renders the same bytes twice (no clock, no map-order dependence)', async () => {
    for (const file of exampleFiles) {
      const a = renderStack(await loadSpec(path.join(repoRoot, 'examples', file), catalog), catalog).files;
      const b = renderStack(await loadSpec(path.join(repoRoot, 'examples', file), catalog), catalog).files;
      expect(b).toStrictEqual(a);
    }
  });
});
