// GPU pools: which pools are GPU pools, the taints their nodes carry (the class's, the pool's, and
// the one the cloud puts on spot nodes itself), and the placement Ollama and the NVIDIA device plugin
// need to land there. One bundle folder serves every cluster, so tolerations are the union over the
// clusters a bundle goes to; tolerating a taint a node does not have changes nothing.
import type { Cluster, NodePool, Stack } from '../spec/schema.js';

/** Set on every node of a GPU pool (kubelet node-labels) and in the autoscaler's node template. */
export const GPU_NODE_LABEL = 'node.llmstack.dev/gpu';

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}
export interface Toleration {
  key: string;
  operator: 'Equal' | 'Exists';
  value?: string;
  effect: string;
}

export function isGpuPool(pool: NodePool): boolean {
  return !!pool.capacity?.gpu || pool.class.includes('gpu');
}

/**
 * Taints a cloud puts on spot nodes on its own (not through the ClusterClass):
 * - AKS: kubernetes.azure.com/scalesetpriority=spot:NoSchedule on every spot node pool.
 * - GKE: cloud.google.com/gke-spot=true:NoSchedule when the spot node pool is created with it
 *   (GKE adds the label always, the taint when asked; tolerating it is harmless either way).
 * - EKS: none. Managed node groups with capacityType SPOT get only the label
 *   eks.amazonaws.com/capacityType=SPOT; a taint exists only if the node group declares one,
 *   which then comes through the pool's own taints.
 */
export function cloudSpotTaint(provider: string): Taint | undefined {
  const p = provider.toLowerCase();
  if (/azure|aks/.test(p)) return { key: 'kubernetes.azure.com/scalesetpriority', value: 'spot', effect: 'NoSchedule' };
  if (/gcp|gke|google/.test(p)) return { key: 'cloud.google.com/gke-spot', value: 'true', effect: 'NoSchedule' };
  return undefined;
}

/** "key=value:Effect" (the ClusterClass annotation and autoscaler format) as a Taint. */
export function parseTaint(s: string): Taint {
  const [kv, effect] = s.split(':');
  const [key, value] = kv!.split('=');
  return { key: key!, value: value || undefined, effect: effect! };
}

export function formatTaint(t: Taint): string {
  return `${t.key}=${t.value ?? ''}:${t.effect}`;
}

/** Every taint a pool's nodes carry: the worker class's, the pool's own, and the cloud's spot taint. */
export function poolTaints(pool: NodePool, provider: string, classTaints: readonly string[]): Taint[] {
  const out: Taint[] = classTaints.map(parseTaint);
  for (const t of pool.taints) out.push({ key: t.key, value: t.value, effect: t.effect });
  const spot = pool.spot ? cloudSpotTaint(provider) : undefined;
  if (spot) out.push(spot);
  return dedupe(out);
}

function dedupe(taints: Taint[]): Taint[] {
  const seen = new Map<string, Taint>();
  for (const t of taints) if (!seen.has(formatTaint(t))) seen.set(formatTaint(t), t);
  return [...seen.values()].sort((a, b) => (formatTaint(a) < formatTaint(b) ? -1 : 1));
}

export function tolerationFor(t: Taint): Toleration {
  return t.value === undefined ? { key: t.key, operator: 'Exists', effect: t.effect } : { key: t.key, operator: 'Equal', value: t.value, effect: t.effect };
}

/** What the renderer needs to know per cluster: its provider and each worker class's default taints. */
export type ClassTaints = (cluster: Cluster, workerClass: string) => { provider: string; taints: string[] };

/** Tolerations for the taints of every GPU pool of the given clusters. */
export function gpuTolerations(clusters: readonly Cluster[], classTaints: ClassTaints): Toleration[] {
  const taints: Taint[] = [];
  for (const c of clusters) {
    for (const p of c.nodePools.filter(isGpuPool)) {
      const { provider, taints: defaults } = classTaints(c, p.class);
      taints.push(...poolTaints(p, provider, defaults));
    }
  }
  return dedupe(taints).map(tolerationFor);
}

export function hasGpuPool(cluster: Cluster): boolean {
  return cluster.nodePools.some(isGpuPool);
}

/** Ollama's placement when it asks for GPUs: GPU pool nodes only, tolerating what they carry. */
export function ollamaGpuPlacement(stack: Stack, clusters: readonly Cluster[], classTaints: ClassTaints): Record<string, unknown> | undefined {
  if (!stack.spec.apps.ollama.gpu) return undefined;
  return { nodeSelector: { [GPU_NODE_LABEL]: 'true' }, tolerations: gpuTolerations(clusters, classTaints) };
}
