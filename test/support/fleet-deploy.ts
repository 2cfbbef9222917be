// What Fleet v0.16.1 deploys to one cluster from a rendered bundle folder, for tests that need a
// cluster's manifests (Fleet's controllers cannot run here). The rules, read at rancher/fleet v0.16.1:
// - the first targetCustomization whose clusterSelector matches the cluster's labels applies
//   (internal/cmd/controller/target: FirstMatch is the default targetCustomizationMode);
// - its downstreamResources are merged into the bundle's own, unique by kind and name
//   (internal/cmd/controller/options/calculate.go mergeUnique);
// - for raw YAML, each file under overlays/<name>/ of the customization's yaml.overlays replaces the
//   file of the same path, and nothing under overlays/ is deployed itself
//   (internal/helmdeployer/render/patch/patch.go);
// - files under templates/ are the chart's Helm templates, every other *.yaml is added as it is.
// The Fleet Cluster's labels are the CAPI Cluster's, which is how both import strategies target.
import { parse, parseAllDocuments } from 'yaml';
import type { RenderedFile } from '../../src/render/index.js';

interface Customization {
  name?: string;
  clusterSelector?: { matchLabels?: Record<string, string> };
  yaml?: { overlays?: string[] };
  downstreamResources?: { kind: string; name: string }[];
}

interface FleetYaml {
  overrideTargets?: { clusterSelector?: { matchLabels?: Record<string, string> } }[];
  targetCustomizations?: Customization[];
  downstreamResources?: { kind: string; name: string }[];
}

export interface Deployed {
  /** Manifest files (path in the bundle → parsed documents) the cluster gets. */
  files: Map<string, Record<string, unknown>[]>;
  /**
   * Files under the bundle's templates/ (path → text): the chart's templates, which Helm renders with
   * the cluster's Capabilities before the raw files are added (internal/helmdeployer/render/helm.go
   * manifests(), postrender.go); test/support/helm.ts renders them.
   */
  templates: Map<string, string>;
  /** Resources Fleet copies from the Bundle's namespace to the cluster. */
  downstreamResources: { kind: string; name: string }[];
  customization: string | undefined;
}

const matches = (sel: { matchLabels?: Record<string, string> } | undefined, labels: Record<string, string>) =>
  !!sel && Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);

/** `undefined` when the bundle does not target the cluster. */
export function deployedBundle(files: readonly RenderedFile[], bundleDir: string, clusterLabels: Record<string, string>): Deployed | undefined {
  const byPath = new Map(files.map((f) => [f.path, f.content]));
  const fleetText = byPath.get(`${bundleDir}/fleet.yaml`);
  if (fleetText === undefined) return undefined;
  const fleet = parse(fleetText) as FleetYaml;
  if (!(fleet.overrideTargets ?? []).some((t) => matches(t.clusterSelector, clusterLabels))) return undefined;
  const custom = (fleet.targetCustomizations ?? []).find((c) => matches(c.clusterSelector, clusterLabels));
  const content = new Map<string, string>();
  for (const [p, text] of byPath) {
    if (p.startsWith(`${bundleDir}/`) && p !== `${bundleDir}/fleet.yaml` && p.endsWith('.yaml')) content.set(p.slice(bundleDir.length + 1), text);
  }
  for (const overlay of custom?.yaml?.overlays ?? []) {
    const prefix = `overlays/${overlay}/`;
    for (const [p, text] of [...content]) if (p.startsWith(prefix)) content.set(p.slice(prefix.length), text);
  }
  const out = new Map<string, Record<string, unknown>[]>();
  const templates = new Map<string, string>();
  for (const [p, text] of content) {
    if (p.startsWith('overlays/')) continue;
    if (p.startsWith('templates/')) {
      templates.set(p, text);
      continue;
    }
    out.set(p, parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>).filter(Boolean));
  }
  const dr = [...(fleet.downstreamResources ?? [])];
  for (const r of custom?.downstreamResources ?? []) if (!dr.some((x) => x.kind === r.kind && x.name === r.name)) dr.push(r);
  return { files: out, templates, downstreamResources: dr, customization: custom?.name };
}

/** The CAPI Cluster's labels from its rendered cluster.yaml. */
export function renderedClusterLabels(files: readonly RenderedFile[], namespace: string, name: string): Record<string, string> {
  const f = files.find((x) => x.path === `management/clusters/${namespace}/${name}/cluster.yaml`);
  if (!f) throw new Error(`no rendered Cluster ${namespace}/${name}`);
  return (parse(f.content) as { metadata: { labels: Record<string, string> } }).metadata.labels;
}
