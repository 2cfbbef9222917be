// What the server actually serves. A CRD may be missing (Rancher not installed yet) or registered with
// another scope than llmstack's descriptor says (Rancher's management Cluster: cluster-scoped in Rancher,
// namespaced in Turtles' test CRD), so informers and writers ask before they assume.
import type { KubeClientConfig } from './config.js';
import { isNotFound, kubeRequest } from './http.js';
import { groupVersionPath, type ResourceType } from './resources.js';

interface ApiResourceList {
  resources?: Array<{ name: string; kind: string; namespaced: boolean }>;
}

async function groupVersionResources(kc: KubeClientConfig, gv: Pick<ResourceType, 'group' | 'version'>, signal?: AbortSignal): Promise<ApiResourceList | undefined> {
  try {
    return await kubeRequest<ApiResourceList>(kc, 'GET', groupVersionPath(gv), signal ? { signal } : {});
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * rt as the server serves it (version, scope and kind from discovery): its own version, else the first
 * of its fallbackVersions served; undefined when none is. Errors other than "not served" are thrown: a
 * failed lookup is not an absence.
 */
export async function discoverResource(kc: KubeClientConfig, rt: ResourceType, signal?: AbortSignal): Promise<ResourceType | undefined> {
  for (const version of [rt.version, ...(rt.fallbackVersions ?? [])]) {
    const list = await groupVersionResources(kc, { group: rt.group, version }, signal);
    const found = list?.resources?.find((r) => r.name === rt.plural);
    if (found) return { ...rt, version, kind: found.kind, namespaced: found.namespaced };
  }
  return undefined;
}

// Hits only: a kind that is missing now may be installed a moment later.
const byKind = new WeakMap<KubeClientConfig, Map<string, ResourceType>>();

/** The REST resource of apiVersion + kind, from discovery (cached per KubeClientConfig once found). */
export async function resourceForKind(kc: KubeClientConfig, apiVersion: string, kind: string): Promise<ResourceType | undefined> {
  let cache = byKind.get(kc);
  if (!cache) byKind.set(kc, (cache = new Map()));
  const key = `${apiVersion}/${kind}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/', 2) as [string, string]) : ['', apiVersion];
  const list = await groupVersionResources(kc, { group, version });
  const found = list?.resources?.find((r) => r.kind === kind && !r.name.includes('/'));
  if (!found) return undefined;
  const rt: ResourceType = { group, version, plural: found.name, kind, namespaced: found.namespaced };
  cache.set(key, rt);
  return rt;
}
