// Installs the upstream CRDs from the shared test data (read in place, never copied into the repo) and the
// project's own from manifests/crds, then waits until the apiserver serves them.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import jsyaml from 'js-yaml';
import { kubeCall, kubeRequest, mapLimit, statusMessage, type KubeObject } from './kube.js';
import { repoRoot, sharedDir } from './paths.js';

export interface Crd extends KubeObject {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { group: string; names: { plural: string }; versions: Array<{ name: string; served: boolean }> };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) return yamlFiles(full);
      return /\.ya?ml$/.test(entry) ? [full] : [];
    });
}

/** Every CRD file the test control plane gets: all of ../shared/crds plus manifests/crds when it exists. */
export function crdFiles(): string[] {
  const shared = path.join(sharedDir(), 'crds');
  if (!existsSync(shared)) {
    throw new Error(`${shared} not found: the shared test data must sit beside the repository (or set LLMSTACK_SHARED_DIR)`);
  }
  return [...yamlFiles(shared), ...yamlFiles(path.join(repoRoot, 'manifests/crds'))];
}

export function loadCrds(files: readonly string[] = crdFiles()): Crd[] {
  const byName = new Map<string, { crd: Crd; file: string }>();
  for (const file of files) {
    // js-yaml: five times faster than `yaml` on these 3.5 MB, which is most of the install time.
    for (const doc of jsyaml.loadAll(readFileSync(file, 'utf8'), undefined, { filename: file })) {
      const obj = doc as Crd | null;
      if (obj?.kind !== 'CustomResourceDefinition' || !obj.apiVersion?.startsWith('apiextensions.k8s.io/')) continue;
      const prev = byName.get(obj.metadata.name);
      if (prev && JSON.stringify(prev.crd) !== JSON.stringify(obj)) {
        throw new Error(`CRD ${obj.metadata.name} is defined differently in ${prev.file} and ${file}`);
      }
      byName.set(obj.metadata.name, { crd: obj, file });
    }
  }
  return [...byName.values()].map((v) => v.crd);
}

export interface CrdInstallResult {
  names: string[];
  ms: number;
}

export async function installCrds(
  kc: KubeConfig,
  options: { crds?: Crd[]; timeoutMs?: number; log?: (m: string) => void } = {},
): Promise<CrdInstallResult> {
  const t0 = performance.now();
  const crds = options.crds ?? loadCrds();
  // More requests in flight do not help: the apiserver is CPU-bound establishing them.
  // Server-side apply: idempotent on an existing cluster and no last-applied annotation, which the
  // largest CAPI CRDs (360 KB) would overflow.
  await mapLimit(crds, 4, async (crd) => {
    const res = await kubeRequest(kc, 'PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`, {
      body: crd,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'llmstack-test', force: true },
      timeoutMs: 60_000,
    });
    if (res.status !== 200 && res.status !== 201) {
      throw new Error(`apply CRD ${crd.metadata.name}: ${res.status} ${statusMessage(res)}`);
    }
  });

  const wanted = new Set(crds.map((c) => c.metadata.name));
  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  // Listing CRDs returns every schema (MBs) and slows the apiserver that is busy establishing them, so
  // poll the small aggregated discovery document until every resource is served, then check
  // Established once.
  let missing = crds.map(servedResources).flat();
  while (missing.length) {
    const served = await discoveredResources(kc);
    missing = missing.filter((r) => !served.has(r));
    if (!missing.length) break;
    if (performance.now() > deadline) throw new Error(`CRD resources not served in time: ${missing.join(', ')}`);
    await delay(100);
  }
  for (;;) {
    const list = await kubeCall<{ items: Crd[] }>(kc, 'GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
    const notEstablished = list.items.filter(
      (c) => wanted.has(c.metadata.name) && !c.status?.conditions?.some((cond) => cond.type === 'Established' && cond.status === 'True'),
    );
    const absent = [...wanted].filter((n) => !list.items.some((c) => c.metadata.name === n));
    if (!notEstablished.length && !absent.length) break;
    if (performance.now() > deadline) {
      const detail = notEstablished.map((c) => `${c.metadata.name}: ${JSON.stringify(c.status?.conditions ?? [])}`);
      throw new Error(`CRDs not Established in time:\n${[...detail, ...absent.map((n) => `${n}: absent`)].join('\n')}`);
    }
    await delay(500);
  }
  const ms = Math.round(performance.now() - t0);
  options.log?.(`installed ${wanted.size} CRDs, all Established, in ${(ms / 1000).toFixed(1)}s`);
  return { names: [...wanted].sort(), ms };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** "group/version/plural" for every served version. */
function servedResources(crd: Crd): string[] {
  return crd.spec.versions.filter((v) => v.served).map((v) => `${crd.spec.group}/${v.name}/${crd.spec.names.plural}`);
}

interface DiscoveryList {
  items: Array<{ metadata: { name: string }; versions: Array<{ version: string; resources: Array<{ resource: string }> }> }>;
}

async function discoveredResources(kc: KubeConfig): Promise<Set<string>> {
  const res = await kubeRequest<DiscoveryList>(kc, 'GET', '/apis', {
    accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
  });
  if (res.status !== 200) throw new Error(`GET /apis: ${res.status} ${statusMessage(res)}`);
  const out = new Set<string>();
  for (const g of res.body.items ?? []) {
    for (const v of g.versions) for (const r of v.resources) out.add(`${g.metadata.name}/${v.version}/${r.resource}`);
  }
  return out;
}
