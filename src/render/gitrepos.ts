// The Fleet GitRepos that connect the generated folders to the clusters: one in fleet-local for the
// management content, and one for the app bundles in the namespace where Fleet keeps the workload
// clusters (fleet-default with Rancher's import, each cluster's own namespace with CAAPF).
import type { KubeObject } from '../catalog/types.js';
import type { Stack } from '../spec/schema.js';
import { clusterNamespace } from './cluster.js';
import { LABEL, MANAGED_BY } from './labels.js';
import { dnsName } from './names.js';

export function gitPath(stack: Stack, sub: string): string {
  return stack.spec.git.path ? `${stack.spec.git.path}/${sub}` : sub;
}

export function renderGitRepos(stack: Stack): KubeObject[] {
  const { git } = stack.spec;
  if (!git.url) return [];
  const name = stack.metadata.name;
  const labels = { [LABEL.stack]: name, [LABEL.managedBy]: MANAGED_BY };
  const common = { repo: git.url, branch: git.branch, clientSecretName: git.clientSecretName };
  const repos: KubeObject[] = [
    {
      apiVersion: 'fleet.cattle.io/v1alpha1',
      kind: 'GitRepo',
      metadata: { name: dnsName([name, 'management']), namespace: 'fleet-local', labels },
      spec: { ...common, paths: [gitPath(stack, 'management')], targets: [{ clusterName: 'local' }] },
    },
  ];
  const appNamespaces =
    stack.spec.import.strategy === 'rancher' ? ['fleet-default'] : [...new Set(stack.spec.clusters.map((c) => clusterNamespace(stack, c)))].sort();
  for (const ns of appNamespaces) {
    repos.push({
      apiVersion: 'fleet.cattle.io/v1alpha1',
      kind: 'GitRepo',
      metadata: { name: dnsName([name, 'apps']), namespace: ns, labels },
      spec: { ...common, paths: [gitPath(stack, 'bundles')], targets: [{ clusterSelector: { matchLabels: { [LABEL.stack]: name } } }] },
    });
  }
  return repos;
}
