// The Secrets the controller may read, per workload cluster; RBAC can name a Secret only by its exact
// name, so each cluster's folder grants `get` on exactly these, and the controller's ClusterRole
// (manifests/controller/rbac.yaml) has no Secret access at all:
// - `<cluster>-kubeconfig` (CAPI's) in the cluster's namespace, to reach its cluster-autoscaler status;
// - the Secrets Fleet copies to the cluster (downstreamResources), in the bundles' namespace, so the
//   report can say which are missing. The controller asks for their metadata only (secrets.ts).
import type { KubeObject } from '../catalog/types.js';
import type { Cluster, Stack } from '../spec/schema.js';
import { clusterNamespace } from './cluster.js';
import { CONTROLLER_IDENTITY, LABEL, MANAGED_BY } from './labels.js';
import { dnsName, shortHash } from './names.js';
import { requiredSecrets } from './secret-plan.js';
import { bundleNamespace, clusterKey } from './secrets.js';

export function renderControllerAccess(stack: Stack, cluster: Cluster): KubeObject[] {
  const labels = { [LABEL.stack]: stack.metadata.name, [LABEL.cluster]: cluster.name, [LABEL.managedBy]: MANAGED_BY };
  const out = secretReader(dnsName(['llmstack-controller', cluster.name, 'kubeconfig']), clusterNamespace(stack, cluster), labels, [`${cluster.name}-kubeconfig`]);
  const key = clusterKey(stack, cluster);
  const delivered = requiredSecrets(stack)
    .filter((s) => s.usedBy.includes(key))
    .map((s) => s.name);
  if (delivered.length > 0) {
    // The bundles' namespace is shared (fleet-default with Rancher's import): a hash of namespace/name
    // keeps two clusters of the same name (or of names that join alike, a-b/c and a/b-c) apart.
    const name = dnsName(['llmstack-controller', cluster.name, 'secrets', shortHash(key)]);
    out.push(...secretReader(name, bundleNamespace(stack, cluster), labels, delivered));
  }
  return out;
}

function secretReader(name: string, namespace: string, labels: Record<string, string>, secrets: string[]): KubeObject[] {
  const meta = { name, namespace, labels };
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta,
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [...new Set(secrets)].sort(), verbs: ['get'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_IDENTITY.serviceAccount, namespace: CONTROLLER_IDENTITY.namespace }],
    },
  ];
}
