// The controller reads one Secret per workload cluster, `<cluster>-kubeconfig` (CAPI's), to reach
// its cluster-autoscaler status. RBAC can name a Secret only by its exact name, so each cluster's
// folder grants `get` on exactly that Secret, in the cluster's namespace; the controller's
// ClusterRole (manifests/controller/rbac.yaml) has no Secret access at all.
import type { KubeObject } from '../catalog/types.js';
import type { Cluster, Stack } from '../spec/schema.js';
import { clusterNamespace } from './cluster.js';
import { CONTROLLER_IDENTITY, LABEL, MANAGED_BY } from './labels.js';
import { dnsName } from './names.js';

export function renderControllerAccess(stack: Stack, cluster: Cluster): KubeObject[] {
  const namespace = clusterNamespace(stack, cluster);
  const name = dnsName(['llmstack-controller', cluster.name, 'kubeconfig']);
  const labels = { [LABEL.stack]: stack.metadata.name, [LABEL.cluster]: cluster.name, [LABEL.managedBy]: MANAGED_BY };
  const meta = { name, namespace, labels };
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta,
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [`${cluster.name}-kubeconfig`], verbs: ['get'] }],
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
