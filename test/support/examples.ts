// The example specs, rendered for each CAPI API version: what the schema tests check.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { Catalog } from '../../src/catalog/types.js';
import { renderStack, type RenderedFile } from '../../src/render/index.js';
import { parseSpec } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/schema.js';
import { repoRoot } from './paths.js';

export const CAPI_VERSIONS = ['v1beta2', 'v1beta1'] as const;

export const exampleFiles = readdirSync(path.join(repoRoot, 'examples'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/**
 * Variants of the examples for settings no shipped example can use: `<example>#<variant>`. The
 * examples run on kind, whose only storage (local-path) is ReadWriteOnce, so none of them turns on the
 * shared model cache; the quickstart with it is checked by every consumer the examples go through.
 */
const VARIANTS: Record<string, (doc: ReturnType<typeof parseDocument>) => void> = {
  'shared-cache': (doc) => doc.setIn(['spec', 'apps', 'ollama', 'cache'], doc.createNode({ mode: 'shared', storageClass: 'nfs-rwx', size: '20Gi' })),
};
export const SHARED_CACHE_EXAMPLE = 'quickstart.yaml#shared-cache';

/** The examples and the variants of them the consumer tests also check. */
export const exampleCases = [...exampleFiles, SHARED_CACHE_EXAMPLE];

/** Parses an example (or `<example>#<variant>`) with spec.capi.apiVersion forced to `version`. */
export function exampleFor(file: string, version: (typeof CAPI_VERSIONS)[number], catalog: Catalog): Stack {
  const [base, variant] = file.split('#') as [string, string | undefined];
  const doc = parseDocument(readFileSync(path.join(repoRoot, 'examples', base), 'utf8'));
  doc.setIn(['spec', 'capi', 'apiVersion'], version);
  if (variant) {
    const change = VARIANTS[variant];
    if (!change) throw new Error(`unknown example variant ${variant}`);
    change(doc);
  }
  return parseSpec(doc.toString(), `examples/${base}`, catalog);
}

export function renderExample(file: string, version: (typeof CAPI_VERSIONS)[number], catalog: Catalog): RenderedFile[] {
  return renderStack(exampleFor(file, version, catalog), catalog).files;
}
