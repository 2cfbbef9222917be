// The pod network of one cluster, delivered by Cluster API: a ConfigMap holding the class's CNI
// manifest with the cluster's pod CIDR, and a ClusterResourceSet that applies it through the
// cluster's kubeconfig Secret as soon as the workload API server answers. That is before any node
// is Ready, and so before Rancher's or Fleet's agents can run there (docs/adr/0003).
//
// A ClusterResourceSet only selects Clusters of its own namespace (CAPI v1.14.2
// core/reconcilers/clusterresourceset/clusterresourceset_controller.go lists them InNamespace), so
// the cluster-name selector below picks exactly one cluster, even when another namespace has one of
// the same name.
import type { ClusterClassEntry, KubeObject } from '../catalog/types.js';
import type { Cluster, Stack } from '../spec/schema.js';
import { clusterNamespace } from './cluster.js';
import { LABEL, MANAGED_BY } from './labels.js';
import { dnsName } from './names.js';
import { toYamlDocs } from './yaml.js';

type Env = { name: string; value?: string };
type Container = { env?: Env[] };

/** The class's CNI objects with POD_SUBNET set to the cluster's pod CIDRs. */
export function cniManifest(entry: ClusterClassEntry, cluster: Cluster): KubeObject[] {
  const subnet = cluster.network.pods.join(',');
  return (entry.cni?.objects ?? []).map((o) => {
    const copy = structuredClone(o);
    if (copy.kind === 'DaemonSet') {
      const containers = ((copy.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers ?? []) as Container[];
      for (const c of containers) for (const e of c.env ?? []) if (e.name === 'POD_SUBNET') e.value = subnet;
    }
    return copy;
  });
}

export function renderCni(stack: Stack, cluster: Cluster, entry: ClusterClassEntry): KubeObject[] {
  if (!entry.cni) return [];
  const ns = clusterNamespace(stack, cluster);
  const name = dnsName([cluster.name, 'cni', entry.cni.name]);
  const labels = { [LABEL.stack]: stack.metadata.name, [LABEL.cluster]: cluster.name, [LABEL.managedBy]: MANAGED_BY };
  const addons = `addons.cluster.x-k8s.io/${stack.spec.capi.apiVersion}`;
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: ns, labels },
      data: { [`${entry.cni.name}.yaml`]: toYamlDocs(cniManifest(entry, cluster)) },
    },
    {
      apiVersion: addons,
      kind: 'ClusterResourceSet',
      metadata: { name, namespace: ns, labels },
      spec: {
        clusterSelector: { matchLabels: { [LABEL.stack]: stack.metadata.name, [LABEL.cluster]: cluster.name } },
        resources: [{ kind: 'ConfigMap', name }],
        // Reconcile: a new CNI version in the catalog reaches running clusters too.
        strategy: 'Reconcile',
      },
    },
  ];
}
