// Shared by the commands: where the spec comes from, loading it with the catalog, and -o json|yaml.
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadCatalog, PACKAGE_ROOT } from '../catalog/load.js';
import type { Catalog } from '../catalog/types.js';
import { stringify } from 'yaml';
import { loadSpec } from '../spec/load.js';
import type { Stack } from '../spec/schema.js';

export const DEFAULT_SPEC = 'llmstack.yaml';
export const EMBEDDED_SPEC = join(PACKAGE_ROOT, 'examples', 'quickstart.yaml');

export interface SpecOptions {
  spec?: string;
  bundles?: string[];
}

/** --spec, else ./llmstack.yaml, else the shipped quickstart (so a first run needs no file). */
export async function resolveSpecPath(opt: string | undefined, note: (s: string) => void): Promise<string> {
  if (opt) return opt;
  const local = resolve(DEFAULT_SPEC);
  if (await stat(local).then(() => true, () => false)) return DEFAULT_SPEC;
  note(`no --spec and no ./${DEFAULT_SPEC}: using the built-in quickstart spec`);
  return EMBEDDED_SPEC;
}

export async function loadInputs(o: SpecOptions, note: (s: string) => void): Promise<{ stack: Stack; catalog: Catalog; specPath: string }> {
  const specPath = await resolveSpecPath(o.spec, note);
  const catalog = await loadCatalog({ extraBundleDirs: o.bundles });
  const stack = await loadSpec(specPath, catalog);
  return { stack, catalog, specPath };
}

export function gitAuthFromEnv(): { username: string; password: string } | undefined {
  const username = process.env.LLMSTACK_GIT_USERNAME;
  const password = process.env.LLMSTACK_GIT_PASSWORD;
  return username && password ? { username, password } : undefined;
}

export type OutputFormat = 'text' | 'table' | 'json' | 'yaml';

/** The machine-readable forms of -o: the same data as JSON or YAML. */
export function formatOutput(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : stringify(value, { lineWidth: 0 }).trimEnd();
}
