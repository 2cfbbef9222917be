// What the shipped catalog folders (clusterclasses/, fleet-bundles/) and user catalogs hold, once read.
// Loading is IO (src/catalog/load.ts); rendering takes these as plain data.

export type CapiVersion = 'v1beta2' | 'v1beta1';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ClusterClassEntry {
  provider: string;
  capiVersion: CapiVersion;
  /** metadata.name of the ClusterClass in the catalog file; every object name in the file starts with it. */
  baseName: string;
  objects: KubeObject[];
  workerClasses: string[];
  /**
   * The pod network a ClusterResourceSet installs on each cluster of this class (the provider's
   * cni/ folder), or undefined when the class brings its own. Its DaemonSet's POD_SUBNET env is set
   * per cluster.
   */
  cni?: { name: string; objects: KubeObject[] };
}

export interface BundleFile {
  /** Path relative to the bundle folder, with "/" separators. */
  path: string;
  content: string;
}

export interface BundleEntry {
  name: string;
  /** fleet.yaml as parsed. */
  fleetYaml: Record<string, unknown>;
  /** Every other file of the folder, copied as is. */
  files: BundleFile[];
  /** Bundles this one depends on, from its dependsOn selectors (label llmstack.dev/bundle). */
  dependsOn: string[];
}

export interface Catalog {
  clusterClasses: ClusterClassEntry[];
  bundles: Map<string, BundleEntry>;
}
