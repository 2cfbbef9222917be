// Shared by the commands: where the spec comes from, loading it with the catalog, and -o json|yaml.
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadCatalog, PACKAGE_ROOT } from '../catalog/load.js';
import { EXIT, UserError } from '../errors.js';
import { checkRemote } from '../gitops/repo.js';
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
  if (!username || !password) return undefined;
  // git's credential protocol is line based: a line break would end the value early.
  if (/[\r\n\0]/.test(username + password)) {
    throw new UserError('LLMSTACK_GIT_USERNAME or LLMSTACK_GIT_PASSWORD contains a line break', EXIT.invalidInput, 'set them without a line break (a token read from a file often ends with one)');
  }
  return { username, password };
}

/** The remote git talks to: --remote, else $LLMSTACK_GIT_REMOTE, else spec.git.url (already checked with the spec). */
export function pushRemote(flag: string | undefined, specUrl: string | undefined): string | undefined {
  if (flag !== undefined) {
    checkRemote(flag, '--remote');
    return flag;
  }
  const env = process.env.LLMSTACK_GIT_REMOTE;
  if (env) {
    checkRemote(env, 'LLMSTACK_GIT_REMOTE');
    return env;
  }
  return specUrl;
}

export type OutputFormat = 'text' | 'table' | 'json' | 'yaml';

/** The machine-readable forms of -o: the same data as JSON or YAML. */
export function formatOutput(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : stringify(value, { lineWidth: 0 }).trimEnd();
}
