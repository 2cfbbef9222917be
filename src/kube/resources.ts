// Typed descriptors of every Kubernetes resource llmstack reads or writes, in one place, and the REST
// paths built from them. Nothing else in the code spells a group, version or plural.

/** The one field manager of every llmstack write (server-side apply and patches). */
export const FIELD_MANAGER = 'llmstack';

export interface ResourceType {
  /** API group; '' for the core group. */
  group: string;
  version: string;
  /** REST resource name (lower-case plural). */
  plural: string;
  kind: string;
  namespaced: boolean;
  /**
   * Older versions a server may serve instead of `version`, newest first. Discovery picks the first
   * one served: Cluster API < 1.11 serves its kinds as v1beta1 only.
   */
  fallbackVersions?: readonly string[];
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
  finalizers?: string[];
  [k: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

const rt = (group: string, version: string, plural: string, kind: string, namespaced = true, fallbackVersions?: readonly string[]): ResourceType => ({
  group,
  version,
  plural,
  kind,
  namespaced,
  ...(fallbackVersions ? { fallbackVersions } : {}),
});

export const RESOURCES = {
  // v1beta2 from Cluster API 1.11; v1beta1 on older management clusters. Informers resolve the one
  // served, and writes use the informer's resolved descriptor.
  capiCluster: rt('cluster.x-k8s.io', 'v1beta2', 'clusters', 'Cluster', true, ['v1beta1']),
  machineDeployment: rt('cluster.x-k8s.io', 'v1beta2', 'machinedeployments', 'MachineDeployment', true, ['v1beta1']),
  namespace: rt('', 'v1', 'namespaces', 'Namespace', false),
  configMap: rt('', 'v1', 'configmaps', 'ConfigMap'),
  secret: rt('', 'v1', 'secrets', 'Secret'),
  lease: rt('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  event: rt('', 'v1', 'events', 'Event'),
  fleetBundle: rt('fleet.cattle.io', 'v1alpha1', 'bundles', 'Bundle'),
  fleetBundleDeployment: rt('fleet.cattle.io', 'v1alpha1', 'bundledeployments', 'BundleDeployment'),
  fleetGitRepo: rt('fleet.cattle.io', 'v1alpha1', 'gitrepos', 'GitRepo'),
  fleetCluster: rt('fleet.cattle.io', 'v1alpha1', 'clusters', 'Cluster'),
  // Real Rancher registers this kind cluster-scoped; Turtles' test CRD is namespaced. Informers and
  // discoverResource() take the scope from the server, this value is only the default.
  rancherCluster: rt('management.cattle.io', 'v3', 'clusters', 'Cluster', false),
  llmCluster: rt('llmstack.dev', 'v1alpha1', 'llmclusters', 'LLMCluster'),
} as const satisfies Record<string, ResourceType>;

export type ResourceName = keyof typeof RESOURCES;

export function apiVersionOf(r: Pick<ResourceType, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** /api/v1 or /apis/<group>/<version>: the group version's root, also its discovery document. */
export function groupVersionPath(r: Pick<ResourceType, 'group' | 'version'>): string {
  return r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
}

/**
 * REST path of a collection, an object or an object's subresource. A namespaced resource without a
 * namespace gives the all-namespaces collection; a namespace given for a cluster-scoped one is ignored.
 */
export function apiPath(r: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  let p = groupVersionPath(r);
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name !== undefined) {
    if (!name) throw new Error(`apiPath: empty name for ${r.plural}`);
    p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
  } else if (subresource) {
    throw new Error(`apiPath: subresource ${subresource} needs a name`);
  }
  return p;
}

/** Cache key in client-go's form: "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(obj: { metadata: { name: string; namespace?: string | undefined } }): string {
  return keyOf(obj.metadata.namespace, obj.metadata.name);
}

export function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** The inverse of keyOf. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** The descriptor in RESOURCES for apiVersion + kind, if llmstack knows it. */
export function knownResource(apiVersion: string, kind: string): ResourceType | undefined {
  return Object.values(RESOURCES).find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}
