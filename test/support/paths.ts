import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The shared test data (upstream CRDs, fixtures) that sits beside the repository. */
export function sharedDir(): string {
  return path.resolve(repoRoot, process.env.LLMSTACK_SHARED_DIR ?? '../shared');
}

/** KUBERNETES_VERSION / ETCD_VERSION from scripts/testbin-versions.env, the one place that pins them. */
export function testbinVersions(): { kubernetes: string; etcd: string } {
  const file = path.join(repoRoot, 'scripts/testbin-versions.env');
  const vars: Record<string, string> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\s*([A-Z_]+)=(\S+)/.exec(line);
      if (m) vars[m[1] as string] = (m[2] as string).replace(/^["']|["']$/g, '');
    }
  }
  if (!vars.KUBERNETES_VERSION || !vars.ETCD_VERSION) {
    throw new Error(`${file} must set KUBERNETES_VERSION and ETCD_VERSION`);
  }
  return { kubernetes: vars.KUBERNETES_VERSION, etcd: vars.ETCD_VERSION };
}
