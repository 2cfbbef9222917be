// The CAPI Cluster (managed topology) for one spec cluster. Node pools become topology
// MachineDeployments carrying the cluster-autoscaler's annotations; autoscaled pools leave replicas
// unset so the topology controller never fights the autoscaler.
import type { ClusterClassEntry, KubeObject } from '../catalog/types.js';
import type { Cluster, NodePool, Stack } from '../spec/schema.js';
import { cloudSpotTaint, formatTaint, GPU_NODE_LABEL, isGpuPool } from './gpu.js';
import { LABEL, MANAGED_BY, UPSTREAM } from './labels.js';

export function clusterNamespace(stack: Stack, cluster: Cluster): string {
  return cluster.namespace ?? stack.spec.capi.namespace;
}

/** Selects exactly one cluster of the stack: names repeat across namespaces, so both are needed. */
export function clusterSelector(stack: Stack, cluster: Cluster): { matchLabels: Record<string, string> } {
  return { matchLabels: { [LABEL.stack]: stack.metadata.name, [LABEL.clusterNamespace]: clusterNamespace(stack, cluster), [LABEL.cluster]: cluster.name } };
}

/** Labels that make Fleet bundles and the controller find this cluster. */
export function clusterLabels(stack: Stack, cluster: Cluster, bundles: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = { ...cluster.labels };
  labels[LABEL.stack] = stack.metadata.name;
  labels[LABEL.cluster] = cluster.name;
  labels[LABEL.clusterNamespace] = clusterNamespace(stack, cluster);
  labels[LABEL.managedBy] = MANAGED_BY;
  for (const b of bundles) labels[`${LABEL.bundlePrefix}${b}`] = 'true';
  labels[LABEL.importStrategy] = stack.spec.import.strategy;
  // An explicit "false" keeps Turtles away even when the namespace carries the auto-import label; a
  // CAAPF cluster is registered with Fleet by CAAPF and must never be imported by Rancher as well.
  labels[UPSTREAM.rancherAutoImport] = stack.spec.import.strategy === 'rancher' && stack.spec.import.autoImport ? 'true' : 'false';
  return labels;
}

/** Node labels and taints a worker class gives its nodes, declared on the catalog ClusterClass. */
export interface WorkerDefaults {
  labels: Record<string, string>;
  /** "key=value:Effect" */
  taints: string[];
}

export function workerDefaults(entry: ClusterClassEntry, workerClass: string): WorkerDefaults {
  const cc = entry.objects.find((o) => o.kind === 'ClusterClass');
  const a = cc?.metadata.annotations ?? {};
  const labels: Record<string, string> = {};
  for (const kv of (a[`workers.llmstack.dev/${workerClass}.labels`] ?? '').split(',').filter(Boolean)) {
    const [k, v = ''] = kv.split('=');
    labels[k!] = v;
  }
  const taints = (a[`workers.llmstack.dev/${workerClass}.taints`] ?? '').split(',').filter(Boolean);
  return { labels, taints };
}

/** Scale-from-zero capacity and min/max, as the clusterapi provider of the autoscaler reads them. */
export function autoscalerAnnotations(pool: NodePool, defaults: WorkerDefaults = { labels: {}, taints: [] }): Record<string, string> {
  const a: Record<string, string> = {};
  if (pool.autoscaling) {
    a[UPSTREAM.autoscalerMin] = String(pool.autoscaling.min);
    a[UPSTREAM.autoscalerMax] = String(pool.autoscaling.max);
  }
  const c = pool.capacity;
  if (c) {
    const p = UPSTREAM.capacityPrefix;
    a[`${p}cpu`] = c.cpu;
    a[`${p}memory`] = c.memory;
    if (c.ephemeralDisk) a[`${p}ephemeral-disk`] = c.ephemeralDisk;
    if (c.maxPods) a[`${p}maxPods`] = String(c.maxPods);
    if (c.gpu) {
      a[`${p}gpu-type`] = c.gpu.type;
      a[`${p}gpu-count`] = String(c.gpu.count);
    }
    // The node template must carry what real nodes of the pool carry, or pods selecting a GPU node
    // would never trigger a scale-up from zero.
    const nodeLabels = { ...defaults.labels, ...poolNodeLabels(pool) };
    if (Object.keys(nodeLabels).length > 0) a[`${p}labels`] = formatKeyValues(nodeLabels);
    const taints = [...defaults.taints];
    for (const t of pool.taints) {
      const s = `${t.key}=${t.value ?? ''}:${t.effect}`;
      if (!taints.some((x) => x.split('=')[0] === t.key && x.endsWith(`:${t.effect}`))) taints.push(s);
    }
    if (taints.length > 0) a[`${p}taints`] = taints.join(',');
  }
  return a;
}

/** Node labels a pool's nodes get (via the ClusterClass variable), spot pools marked as such. */
export function poolNodeLabels(pool: NodePool): Record<string, string> {
  const labels: Record<string, string> = { ...pool.labels };
  if (pool.spot) labels['node.llmstack.dev/spot'] = 'true';
  // What Ollama and the device plugin select GPU nodes by, whatever the cloud labels them with.
  if (isGpuPool(pool)) labels[GPU_NODE_LABEL] = 'true';
  return labels;
}

function formatKeyValues(m: Record<string, string>): string {
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(',');
}

/** Names of the variables a ClusterClass declares, so overrides are only sent where they exist. */
export function classVariables(entry: ClusterClassEntry): Set<string> {
  const cc = entry.objects.find((o) => o.kind === 'ClusterClass');
  const vars = ((cc?.spec as { variables?: { name: string }[] } | undefined)?.variables ?? []).map((v) => v.name);
  return new Set(vars);
}

export function renderCluster(
  stack: Stack,
  cluster: Cluster,
  entry: ClusterClassEntry,
  bundles: readonly string[],
): KubeObject {
  const v = stack.spec.capi.apiVersion;
  const vars = classVariables(entry);
  const machineDeployments = cluster.nodePools.map((pool) => {
    const overrides: { name: string; value: unknown }[] = [];
    const nodeLabels = poolNodeLabels(pool);
    if (vars.has('workerNodeLabels') && Object.keys(nodeLabels).length > 0) {
      overrides.push({ name: 'workerNodeLabels', value: formatKeyValues(nodeLabels) });
    }
    if (vars.has('workerNodeTaints') && pool.taints.length > 0) {
      overrides.push({ name: 'workerNodeTaints', value: pool.taints.map((t) => ({ key: t.key, value: t.value, effect: t.effect })) });
    }
    if (vars.has('workerSpot') && pool.spot) overrides.push({ name: 'workerSpot', value: true });
    // The cloud's own spot taint is on real nodes too, so the scale-from-zero template carries it.
    const defaults = workerDefaults(entry, pool.class);
    const spot = pool.spot ? cloudSpotTaint(entry.provider) : undefined;
    if (spot) defaults.taints.push(formatTaint(spot));
    const annotations = autoscalerAnnotations(pool, defaults);
    return {
      class: pool.class,
      name: pool.name,
      metadata: Object.keys(annotations).length > 0 ? { annotations } : undefined,
      replicas: pool.autoscaling ? undefined : (pool.replicas ?? 1),
      variables: overrides.length > 0 ? { overrides } : undefined,
    };
  });

  const topology: Record<string, unknown> =
    v === 'v1beta2' ? { classRef: { name: cluster.class } } : { class: cluster.class };
  topology.version = cluster.kubernetesVersion;
  topology.controlPlane = { replicas: cluster.controlPlane.replicas };
  topology.workers = { machineDeployments };

  return {
    apiVersion: `cluster.x-k8s.io/${v}`,
    kind: 'Cluster',
    metadata: {
      name: cluster.name,
      namespace: clusterNamespace(stack, cluster),
      labels: clusterLabels(stack, cluster, bundles),
    },
    spec: {
      clusterNetwork: {
        pods: { cidrBlocks: cluster.network.pods },
        services: { cidrBlocks: cluster.network.services },
        serviceDomain: cluster.network.serviceDomain,
      },
      topology,
    },
  };
}
