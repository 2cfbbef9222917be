// Label and annotation keys llmstack writes, and the upstream ones it sets for others to read.

export const LABEL = {
  /** Every object llmstack generates for a stack, and every Cluster it manages (the controller's selector). */
  stack: 'llmstack.dev/stack',
  cluster: 'llmstack.dev/cluster',
  /** The CAPI Cluster's namespace: with the name, what per-cluster customizations select on. */
  clusterNamespace: 'llmstack.dev/cluster-namespace',
  /** On a Fleet bundle (from fleet.yaml labels): which catalog bundle it is. */
  bundle: 'llmstack.dev/bundle',
  /** On a Cluster: `bundle.llmstack.dev/<bundle>: "true"` for every bundle it should get. */
  bundlePrefix: 'bundle.llmstack.dev/',
  managedBy: 'app.kubernetes.io/managed-by',
  /**
   * On a Cluster: how it reaches Fleet, `rancher` (Turtles imports it into Rancher) or `caapf` (the
   * Fleet add-on provider registers it). The controller never labels a `caapf` cluster for Rancher's
   * auto-import: that would register it with Fleet a second time.
   */
  importStrategy: 'llmstack.dev/import-strategy',
} as const;

export const UPSTREAM = {
  rancherAutoImport: 'cluster-api.cattle.io/rancher-auto-import',
  autoscalerMin: 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size',
  autoscalerMax: 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size',
  capacityPrefix: 'capacity.cluster-autoscaler.kubernetes.io/',
} as const;

export const MANAGED_BY = 'llmstack';

/** The DNS domain of llmstack's own label keys (`llmstack.dev/...`, `bundle.llmstack.dev/...`). */
export const LABEL_DOMAIN = 'llmstack.dev';

/**
 * Whether a label key is llmstack's: its prefix is llmstack.dev or a subdomain of it. These are the
 * keys the controller may set and remove on objects other tools own (the Rancher cluster).
 */
export function isLlmstackLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const prefix = key.slice(0, slash);
  return prefix === LABEL_DOMAIN || prefix.endsWith(`.${LABEL_DOMAIN}`);
}
/** The controller's identity as manifests/controller installs it; each cluster's folder grants it its kubeconfig Secret. */
export const CONTROLLER_IDENTITY = { serviceAccount: 'llmstack-controller', namespace: 'llmstack-system' } as const;
