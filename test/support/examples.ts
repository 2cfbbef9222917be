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

/** Parses an example with spec.capi.apiVersion forced to `version`. */
export function exampleFor(file: string, version: (typeof CAPI_VERSIONS)[number], catalog: Catalog): Stack {
  const doc = parseDocument(readFileSync(path.join(repoRoot, 'examples', file), 'utf8'));
  doc.setIn(['spec', 'capi', 'apiVersion'], version);
  return parseSpec(doc.toString(), `examples/${file}`, catalog);
}

export function renderExample(file: string, version: (typeof CAPI_VERSIONS)[number], catalog: Catalog): RenderedFile[] {
  return renderStack(exampleFor(file, version, catalog), catalog).files;
}
