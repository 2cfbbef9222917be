import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The shared test data (upstream CRDs, fixtures) that sits beside the repository. */
export function sharedDir(): string {
  return path.resolve(repoRoot, process.env.LLMSTACK_SHARED_DIR ?? '../shared');
}

const VERSIONS_FILE = path.join(repoRoot, 'scripts/testbin-versions.env');

function versionVars(): Record<string, string> {
  const vars: Record<string, string> = {};
  if (existsSync(VERSIONS_FILE)) {
    for (const line of readFileSync(VERSIONS_FILE, 'utf8').split('\n')) {
      const m = /^\s*([A-Z0-9_]+)=(\S+)/.exec(line);
      if (m) vars[m[1] as string] = (m[2] as string).replace(/^["']|["']$/g, '');
    }
  }
  return vars;
}

/** One version scripts/testbin-versions.env pins, e.g. pinnedVersion('HELM_VERSION'). */
export function pinnedVersion(name: string): string {
  const v = versionVars()[name];
  if (!v) throw new Error(`${VERSIONS_FILE} must set ${name}`);
  return v;
}

/** The versions scripts/testbin-versions.env pins, the one place that pins them. */
export function testbinVersions(): { kubernetes: string; etcd: string; capi: string; capiV1beta1: string; knativeServing: string } {
  const file = VERSIONS_FILE;
  const vars = versionVars();
  const required = ['KUBERNETES_VERSION', 'ETCD_VERSION', 'CAPI_VERSION', 'CAPI_V1BETA1_VERSION', 'KNATIVE_SERVING_VERSION'];
  const missing = required.filter((k) => !vars[k]);
  if (missing.length) throw new Error(`${file} must set ${missing.join(', ')}`);
  return {
    kubernetes: vars.KUBERNETES_VERSION as string,
    etcd: vars.ETCD_VERSION as string,
    capi: vars.CAPI_VERSION as string,
    capiV1beta1: vars.CAPI_V1BETA1_VERSION as string,
    knativeServing: vars.KNATIVE_SERVING_VERSION as string,
  };
}
