// How an imported CAPI cluster reaches Fleet, written the way the released controllers write it, for
// tests in which Turtles, Rancher and CAAPF cannot run. Each function names the version and the file
// it follows; src/controller/targeting.ts has the summary.
import { gunzipSync, gzipSync } from 'node:zlib';
import type { KubeConfig } from '@kubernetes/client-node';
import { getObject, kubeRequest } from '../../src/kube/http.js';
import { apiPath, type KubeObject } from '../../src/kube/resources.js';
import { RESOURCES, TEST_RANCHER_CLUSTER } from './upstream.js';

const MERGE = 'application/merge-patch+json';
const APPLY = 'application/apply-patch+yaml';

/**
 * The management.cattle.io/v3 Cluster rancher/turtles v0.27.0 creates for a CAPI cluster
 * (internal/controllers/import_controller.go reconcileNormal; keys from helpers.go and
 * util/annotations/helpers.go). Real Rancher's kind is cluster-scoped and drops the namespace Turtles
 * sets; the shared test CRD is namespaced, so it stays. `copyLabels` is the later Turtles (c0ed7848,
 * not in v0.27.0): propagateLabels runs before the create, so the copy is there from the start.
 */
export function turtlesRancherCluster(capi: KubeObject, name: string, opts: { copyLabels?: boolean } = {}): KubeObject {
  const ns = capi.metadata.namespace!;
  const owner = { 'cluster-api.cattle.io/capi-cluster-owner': capi.metadata.name, 'cluster-api.cattle.io/capi-cluster-owner-ns': ns, 'cluster-api.cattle.io/owned': '' };
  return {
    apiVersion: 'management.cattle.io/v3',
    kind: 'Cluster',
    metadata: {
      name,
      namespace: ns,
      labels: { ...owner, ...(opts.copyLabels ? turtlesCopiedLabels(capi) : {}) },
      annotations: { 'cluster-api.cattle.io/fleet-namespace-migrated': 'cattle-fleet-system', 'rancher.io/imported-cluster-version-management': 'false', 'field.cattle.io/no-creator-rbac': 'true' },
      finalizers: ['capicluster.turtles.cattle.io'],
    },
    spec: { displayName: capi.metadata.name, description: 'CAPI cluster imported to Rancher' },
  };
}

/** The CAPI labels the later Turtles copies (c0ed7848 propagateLabels): keys without cattle.io or x-k8s.io. */
export function turtlesCopiedLabels(capi: KubeObject): Record<string, string> {
  return Object.fromEntries(Object.entries(capi.metadata.labels ?? {}).filter(([k]) => !k.includes('cattle.io') && !k.includes('x-k8s.io')));
}

/** The later Turtles' re-reconcile: adds the copied labels with a merge patch, never removes one. */
export async function turtlesPropagateLabels(kc: KubeConfig, capi: KubeObject, rancherName: string): Promise<void> {
  await kubeRequest(kc, 'PATCH', apiPath(TEST_RANCHER_CLUSTER, capi.metadata.namespace, rancherName), {
    body: { metadata: { labels: turtlesCopiedLabels(capi) } },
    contentType: MERGE,
    query: { fieldManager: 'rancher-turtles' },
  });
}

/**
 * Rancher v2.15.0 taking the management Cluster in: assignWorkspace sets the default fleet workspace
 * (provisioningv2/fleetcluster/fleetcluster.go) and the cluster agent connects (Ready).
 */
export async function rancherAccepts(kc: KubeConfig, ns: string, rancherName: string): Promise<void> {
  const path = apiPath(TEST_RANCHER_CLUSTER, ns, rancherName);
  await kubeRequest(kc, 'PATCH', path, { body: { spec: { fleetWorkspaceName: 'fleet-default' } }, contentType: MERGE, query: { fieldManager: 'rancher' } });
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await kubeRequest(kc, 'PATCH', `${path}/status`, {
    body: { status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } },
    contentType: MERGE,
    query: { fieldManager: 'rancher' },
  });
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** wrangler v3.7.0 pkg/yaml CleanAnnotationsForExport: drops keys containing "cattle.io/" or starting with "kubectl.kubernetes.io/". */
function cleanForExport(m: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(m ?? {}).filter(([k]) => !k.includes('cattle.io/') && !k.startsWith('kubectl.kubernetes.io/')));
}

/** The Fleet Cluster's labels as Rancher v2.15.0 fleetcluster.go createCluster derives them from the management Cluster. */
export function rancherFleetClusterLabels(mgmt: KubeObject): Record<string, string> {
  const labels = cleanForExport(mgmt.metadata.labels);
  labels['management.cattle.io/cluster-name'] = mgmt.metadata.name;
  const display = (mgmt.spec as { displayName?: string } | undefined)?.displayName ?? '';
  if (display.length <= 63 && LABEL_VALUE.test(display)) labels['management.cattle.io/cluster-display-name'] = display;
  return labels;
}

// wrangler's apply keeps what it applied last in this annotation (gzip + base64 of the object's JSON).
const APPLIED = 'objectset.rio.cattle.io/applied';

/**
 * Rancher v2.15.0 (re)writing the Fleet Cluster of a management Cluster, as its generating handler
 * does on every change of it: named after the provisioning Cluster, which carries the management
 * Cluster's name (provisioningv2/cluster/controller.go), in the fleet workspace, labels derived as
 * above. An update is wrangler v3.7.0's (pkg/apply desiredset_compare.go doPatch) three-way JSON merge
 * of the last applied labels, the new ones and the live object: a label it applied before and no
 * longer wants is removed, one it never applied is left alone.
 */
export async function rancherSyncFleetCluster(kc: KubeConfig, ns: string, rancherName: string): Promise<KubeObject> {
  const mgmt = await getObject(kc, TEST_RANCHER_CLUSTER, ns, rancherName);
  if (!mgmt) throw new Error(`management Cluster ${ns}/${rancherName} not found`);
  const workspace = (mgmt.spec as { fleetWorkspaceName?: string }).fleetWorkspaceName;
  if (!workspace) throw new Error(`management Cluster ${rancherName} has no fleet workspace: Rancher creates no Fleet Cluster`);
  const labels = rancherFleetClusterLabels(mgmt);
  const applied = gzipSync(JSON.stringify({ metadata: { labels } })).toString('base64');
  const live = await getObject(kc, RESOURCES.fleetCluster, workspace, rancherName);
  if (!live) {
    const body: KubeObject = {
      apiVersion: 'fleet.cattle.io/v1alpha1',
      kind: 'Cluster',
      metadata: { name: rancherName, namespace: workspace, labels, annotations: { ...cleanForExport(mgmt.metadata.annotations), [APPLIED]: applied } },
      spec: { kubeConfigSecret: `${rancherName}-kubeconfig`, kubeConfigSecretNamespace: workspace },
    };
    return kubeRequest<KubeObject>(kc, 'POST', apiPath(RESOURCES.fleetCluster, workspace), { body, query: { fieldManager: 'rancher' } });
  }
  const original = (JSON.parse(gunzipSync(Buffer.from(live.metadata.annotations?.[APPLIED] ?? '', 'base64')).toString() || '{}') as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ?? {};
  const current = live.metadata.labels ?? {};
  const patch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(labels)) if (current[k] !== v) patch[k] = v;
  for (const k of Object.keys(original)) if (!(k in labels) && k in current) patch[k] = null;
  return kubeRequest<KubeObject>(kc, 'PATCH', apiPath(RESOURCES.fleetCluster, workspace, rancherName), {
    body: { metadata: { labels: patch, annotations: { [APPLIED]: applied } } },
    contentType: MERGE,
    query: { fieldManager: 'rancher' },
  });
}

/**
 * The Fleet Cluster rancher/cluster-api-addon-provider-fleet v0.14.0 writes for a CAPI cluster
 * (src/api/capi_cluster.rs to_cluster, server-side apply as "addon-provider-fleet" in
 * src/controllers/cluster.rs): the CAPI Cluster's namespace, name (default naming) and annotations,
 * all its labels plus the ClusterClass ones (src/api/fleet_clustergroup.rs).
 */
export async function caapfApplyFleetCluster(kc: KubeConfig, capi: KubeObject): Promise<KubeObject> {
  const ns = capi.metadata.namespace!;
  const classRef = (capi.spec as { topology?: { classRef?: { name?: string; namespace?: string } } } | undefined)?.topology?.classRef;
  const labels: Record<string, string> = { ...capi.metadata.labels };
  if (classRef?.name) {
    labels['clusterclass-name.fleet.addons.cluster.x-k8s.io'] = classRef.name;
    labels['clusterclass-namespace.fleet.addons.cluster.x-k8s.io'] = classRef.namespace ?? ns;
  }
  const body: KubeObject = {
    apiVersion: 'fleet.cattle.io/v1alpha1',
    kind: 'Cluster',
    metadata: { name: capi.metadata.name, namespace: ns, labels, annotations: { ...capi.metadata.annotations } },
    spec: { kubeConfigSecret: `${capi.metadata.name}-kubeconfig` },
  };
  return kubeRequest<KubeObject>(kc, 'PATCH', apiPath(RESOURCES.fleetCluster, ns, capi.metadata.name), {
    body,
    contentType: APPLY,
    query: { fieldManager: 'addon-provider-fleet', force: true },
  });
}

// ---- Fleet v0.16.1 target matching ----

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface FleetTarget {
  name?: string;
  clusterName?: string;
  clusterSelector?: LabelSelectorObject | null;
  clusterGroup?: string;
  clusterGroupSelector?: LabelSelectorObject | null;
}

/** metav1.LabelSelectorAsSelector, then Matches: a nil selector matches nothing, an empty one everything. */
export function labelSelectorMatches(sel: LabelSelectorObject | null | undefined, labels: Record<string, string>): boolean {
  if (sel === null || sel === undefined) return false;
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (!has(k) || labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has(e.key) && values.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has(e.key) && values.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has(e.key)) return false;
    if (e.operator === 'DoesNotExist' && has(e.key)) return false;
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator)) throw new Error(`label selector operator ${String(e.operator)} is invalid`);
  }
  return true;
}

/**
 * Fleet v0.16.1 internal/cmd/controller/target/matcher/clustermatcher.go for a cluster in no group:
 * every criterion the target sets must hold, and a target without one matches nothing.
 */
export function fleetTargetMatches(t: FleetTarget, clusterName: string, labels: Record<string, string>): boolean {
  if (t.clusterGroup || t.clusterGroupSelector) throw new Error(`target ${t.name ?? ''}: cluster groups are not simulated (llmstack renders none)`);
  const criteria: boolean[] = [];
  if (t.clusterName) criteria.push(t.clusterName === clusterName || labels['management.cattle.io/cluster-display-name'] === t.clusterName);
  if (t.clusterSelector !== undefined && t.clusterSelector !== null) criteria.push(labelSelectorMatches(t.clusterSelector, labels));
  return criteria.length > 0 && criteria.every(Boolean);
}

