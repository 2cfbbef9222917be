// spec + catalog → the whole output tree, as sorted (path, content) pairs. Pure: no filesystem,
// network or clock, so `generate`, `diff`, `validate` and the controller all see the same output.
//
// Layout (below spec.git.path):
//   management/clusterclasses/<ns>/<class>/   ClusterClass + templates     (Fleet: fleet-local)
//   management/clusters/<ns>/<cluster>/       Cluster, its CNI (a ClusterResourceSet), its
//                                             autoscaler, the controller's kubeconfig access
//                                                                           (Fleet: fleet-local)
//   bundles/<bundle>/                         apps for the workload clusters (Fleet: fleet-default
//                                             or the cluster's namespace with CAAPF)
//   bootstrap/gitrepos.yaml                   the GitRepos to apply once (needs spec.git.url)
import type { Catalog, ClusterClassEntry } from '../catalog/types.js';
import type { Stack } from '../spec/schema.js';
import { needsAutoscaler, renderAutoscaler } from './autoscaler.js';
import { bundleClosure, renderBundle, type RenderedFile, type TreeFile } from './bundles.js';
import { clusterNamespace, renderCluster, workerDefaults } from './cluster.js';
import { renderClusterClass } from './clusterclass.js';
import { renderCni } from './cni.js';
import { renderControllerAccess } from './controller-access.js';
import { renderGitRepos } from './gitrepos.js';
import type { ClassTaints } from './gpu.js';
import { LABEL } from './labels.js';
import { generatedHeader, toYamlDocs } from './yaml.js';

export type { RenderedFile, TreeFile };

export interface RenderResult {
  files: RenderedFile[];
  /** The same files before serialization (objects, not text). */
  tree: TreeFile[];
  /** Bundles each cluster gets, keyed "namespace/name". */
  clusterBundles: Map<string, string[]>;
}

export function classEntry(stack: Stack, className: string, catalog: Catalog): ClusterClassEntry {
  const cc = stack.spec.clusterClasses.find((c) => c.name === className);
  const entry = catalog.clusterClasses.find((e) => e.provider === cc?.provider && e.capiVersion === stack.spec.capi.apiVersion);
  // The spec was checked against the catalog on load; reaching this is a bug.
  if (!entry) throw new Error(`no catalog ClusterClass for class "${className}" (${stack.spec.capi.apiVersion})`);
  return entry;
}

/** Serializes a tree; `dump` is swappable so benchmarks can compare emitters on the same objects. */
export function serialize(tree: readonly TreeFile[], dump: (docs: unknown[], header: string) => string = toYamlDocs): RenderedFile[] {
  return tree.map((f) => ({ path: f.path, content: 'text' in f ? f.text : dump(f.docs, f.header) }));
}

export function renderStack(stack: Stack, catalog: Catalog): RenderResult {
  const tree = renderTree(stack, catalog);
  return { files: serialize(tree.files), tree: tree.files, clusterBundles: tree.clusterBundles };
}

export function renderTree(stack: Stack, catalog: Catalog): { files: TreeFile[]; clusterBundles: Map<string, string[]> } {
  const files: TreeFile[] = [];
  const stackName = stack.metadata.name;
  const clusterBundles = new Map<string, string[]>();

  // ClusterClasses: in the default namespace, and in every namespace a cluster using them lives in.
  const classNamespaces = new Map<string, Set<string>>();
  for (const cc of stack.spec.clusterClasses) classNamespaces.set(cc.name, new Set([stack.spec.capi.namespace]));
  for (const c of stack.spec.clusters) classNamespaces.get(c.class)?.add(clusterNamespace(stack, c));
  for (const cc of stack.spec.clusterClasses) {
    const entry = classEntry(stack, cc.name, catalog);
    for (const ns of [...classNamespaces.get(cc.name)!].sort()) {
      const dir = `management/clusterclasses/${ns}/${cc.name}`;
      const header = generatedHeader(`ClusterClass "${cc.name}" (${cc.provider}, CAPI ${stack.spec.capi.apiVersion}) of stack "${stackName}".`);
      files.push({
        path: `${dir}/fleet.yaml`,
        header,
        docs: [{ defaultNamespace: ns, labels: { [LABEL.stack]: stackName, 'llmstack.dev/clusterclass': cc.name, 'llmstack.dev/namespace': ns } }],
      });
      files.push({ path: `${dir}/clusterclass.yaml`, header, docs: renderClusterClass(entry, cc.name, ns, stackName) });
    }
  }

  for (const c of stack.spec.clusters) {
    const ns = clusterNamespace(stack, c);
    const bundles = bundleClosure(c, catalog);
    clusterBundles.set(`${ns}/${c.name}`, bundles);
    const entry = classEntry(stack, c.class, catalog);
    const dir = `management/clusters/${ns}/${c.name}`;
    const header = generatedHeader(`Cluster "${c.name}" of stack "${stackName}".`);
    files.push({
      path: `${dir}/fleet.yaml`,
      header,
      docs: [
        {
          defaultNamespace: ns,
          labels: { [LABEL.stack]: stackName, [LABEL.cluster]: c.name },
          // Fleet applies the Cluster only once its ClusterClass bundle is ready.
          dependsOn: [{ selector: { matchLabels: { [LABEL.stack]: stackName, 'llmstack.dev/clusterclass': c.class, 'llmstack.dev/namespace': ns } } }],
        },
      ],
    });
    files.push({ path: `${dir}/cluster.yaml`, header, docs: [renderCluster(stack, c, entry, bundles)] });
    const cni = renderCni(stack, c, entry);
    if (cni.length > 0) files.push({ path: `${dir}/cni.yaml`, header, docs: cni });
    files.push({ path: `${dir}/controller-access.yaml`, header, docs: renderControllerAccess(stack, c) });
    if (needsAutoscaler(c)) {
      files.push({ path: `${dir}/autoscaler.yaml`, header, docs: renderAutoscaler(stack, c, infraTemplatePlurals(entry)) });
    }
  }

  const classTaints: ClassTaints = (c, workerClass) => {
    const e = classEntry(stack, c.class, catalog);
    return { provider: e.provider, taints: workerDefaults(e, workerClass).taints };
  };
  const used = new Set([...clusterBundles.values()].flat());
  for (const name of [...used].sort()) {
    const entry = catalog.bundles.get(name)!;
    const targets = stack.spec.clusters.filter((c) => clusterBundles.get(`${clusterNamespace(stack, c)}/${c.name}`)?.includes(name));
    files.push(...renderBundle(stack, entry, targets, `bundles/${name}`, classTaints));
  }

  const gitrepos = renderGitRepos(stack);
  if (gitrepos.length > 0) {
    files.push({
      path: 'bootstrap/gitrepos.yaml',
      header: generatedHeader(`Fleet GitRepos of stack "${stackName}": apply once to the management cluster.`),
      docs: gitrepos,
    });
  }

  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, clusterBundles };
}

/** Plurals of the infrastructure machine templates a class uses, for the autoscaler's RBAC. */
function infraTemplatePlurals(entry: ClusterClassEntry): string[] {
  const kinds = new Set(entry.objects.filter((o) => o.apiVersion.startsWith('infrastructure.cluster.x-k8s.io/') && o.kind.endsWith('MachineTemplate')).map((o) => o.kind));
  return [...kinds].map((k) => `${k.toLowerCase()}s`);
}

