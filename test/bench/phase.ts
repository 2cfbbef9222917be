// One measured phase in its own process, so peak memory (maxRSS) belongs to that phase alone.
// Prints one JSON line: {phase, ms, maxRssMb, ...}.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import jsYaml from 'js-yaml';
import { stringify as yamlStringify } from 'yaml';
import { loadCatalog } from '../../src/catalog/load.js';
import { generateToGit } from '../../src/gitops/repo.js';
import { renderTree, serialize, type TreeFile } from '../../src/render/index.js';
import { canonical } from '../../src/render/yaml.js';
import { Stack } from '../../src/spec/schema.js';
import { checkSemantics, partsOf } from '../../src/spec/semantics.js';
import { bigSpec } from './spec.js';

const [phase, dir, n] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4] ?? 1000)];

async function writeAll(files: { path: string; content: string }[]): Promise<void> {
  const dirs = new Set(files.map((f) => dirname(join(dir, f.path))));
  await Promise.all([...dirs].map((d) => mkdir(d, { recursive: true })));
  // Bounded parallelism: the same for every phase, so ratios compare serialization, not IO scheduling.
  for (let i = 0; i < files.length; i += 64) {
    await Promise.all(files.slice(i, i + 64).map((f) => writeFile(join(dir, f.path), f.content)));
  }
}

const jsonDump = (docs: unknown[]) => docs.map((d) => JSON.stringify(d)).join('\n');
const yamlDump = (docs: unknown[], header: string) =>
  header + docs.map((d) => yamlStringify(canonical(d), { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
const jsYamlDump = (docs: unknown[], header: string) =>
  header + docs.map((d) => jsYaml.dump(canonical(d), { lineWidth: -1, noRefs: true, quotingType: '"', noCompatMode: true })).join('---\n');

const catalog = await loadCatalog();
const t0 = performance.now();
const stack = Stack.parse(bigSpec(n));
if (checkSemantics(partsOf(stack), catalog).length) throw new Error('bench spec invalid');
const result: Record<string, unknown> = { phase };

if (phase === 'generate') {
  // The real command path: render, plan against the repo, write, git add + commit.
  const r = await generateToGit({ stack: 'bench', target: { dir, branch: 'main', base: '' }, render: () => serialize(renderTree(stack, catalog).files) });
  result.files = r.plan.add.length + r.plan.update.length;
  result.commit = Boolean(r.commit);
} else {
  const tree: TreeFile[] = renderTree(stack, catalog).files;
  const dump = phase === 'floor-json' ? jsonDump : phase === 'render-yaml' ? yamlDump : jsYamlDump;
  const files = serialize(tree, dump);
  await writeAll(files);
  result.files = files.length;
  result.bytes = files.reduce((s, f) => s + f.content.length, 0);
}
result.ms = Math.round(performance.now() - t0);
result.maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
process.stdout.write(`${JSON.stringify(result)}\n`);
