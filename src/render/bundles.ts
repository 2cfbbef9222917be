// Fleet bundles for the workload clusters: catalog folders, completed with what the spec decides
// (targets, stack labels, app configuration). Each cluster carries a label per bundle it should get,
// so one bundle folder serves every cluster of the stack.
import type { BundleEntry, Catalog } from '../catalog/types.js';
import type { Cluster, Stack } from '../spec/schema.js';
import { litellmEnv, renderLitellm } from './apps/litellm.js';
import { renderOllama, type OllamaExposure } from './apps/ollama.js';
import { clusterNamespace, clusterSelector } from './cluster.js';
import { LABEL } from './labels.js';
import { endpointKeyRef, masterKeyRef } from './secrets.js';
import { generatedHeader, toYamlDocs } from './yaml.js';

/**
 * Every workload cluster needs metrics and storage, whatever apps it runs. Its pod network is not a
 * bundle: Fleet's agent cannot run before it, so Cluster API delivers it (src/render/cni.ts).
 */
export const BASE_BUNDLES = ['metrics-server', 'local-path-storage'] as const;

export interface RenderedFile {
  path: string;
  content: string;
}

/** A file before serialization: YAML documents under a header, or text copied as is. */
export type TreeFile = { path: string; header: string; docs: unknown[] } | { path: string; text: string };

/** The bundles a cluster gets: base bundles, its apps, and everything those depend on, sorted. */
export function bundleClosure(cluster: Cluster, catalog: Catalog): string[] {
  const out = new Set<string>();
  const visit = (name: string) => {
    if (out.has(name)) return;
    const entry = catalog.bundles.get(name);
    if (!entry) return;
    out.add(name);
    entry.dependsOn.forEach(visit);
  };
  BASE_BUNDLES.forEach(visit);
  cluster.apps.forEach(visit);
  return [...out].sort();
}

function targetSelector(stack: Stack, bundle: string): Record<string, string> {
  return { [LABEL.stack]: stack.metadata.name, [`${LABEL.bundlePrefix}${bundle}`]: 'true' };
}

export function renderFleetYaml(stack: Stack, entry: BundleEntry, clusters: readonly Cluster[]): Record<string, unknown> {
  const f = structuredClone(entry.fleetYaml) as Record<string, unknown>;
  const stackName = stack.metadata.name;
  f.labels = { ...(f.labels as Record<string, string> | undefined), [LABEL.bundle]: entry.name, [LABEL.stack]: stackName };
  if (Array.isArray(f.dependsOn)) {
    f.dependsOn = (f.dependsOn as { name?: string; selector?: { matchLabels?: Record<string, string> } }[]).map((d) =>
      d.selector?.matchLabels?.[LABEL.bundle]
        ? { ...d, selector: { ...d.selector, matchLabels: { ...d.selector.matchLabels, [LABEL.stack]: stackName } } }
        : d,
    );
  }
  // The GitRepo targets the whole stack; each bundle narrows that to the clusters that asked for it.
  f.overrideTargets = [{ clusterSelector: { matchLabels: targetSelector(stack, entry.name) } }];

  if (entry.name === 'openwebui') {
    const helm = (f.helm ??= {}) as Record<string, unknown>;
    const values = (helm.values ??= {}) as Record<string, unknown>;
    values.persistence = { ...(values.persistence as object | undefined), enabled: true, size: stack.spec.apps.openwebui.persistence };
    // Open WebUI authenticates to LiteLLM with its master key, which the litellm bundle delivers to
    // the same namespace (a Secret is listed in one bundle only: Fleet labels each copy with the
    // BundleDeployment that made it and deletes it with that BundleDeployment).
    const masterKey = masterKeyRef(stack).secretRef;
    values.openaiApiKeyExistingSecret = masterKey.name;
    values.openaiApiKeyExistingSecretKey = masterKey.key;
    if (stack.spec.apps.openwebui.chartVersion) helm.version = stack.spec.apps.openwebui.chartVersion;
  }
  return f;
}

/** The name of a cluster's overlay folder and customization: namespace and name, which no two clusters share. */
export const overlayName = (stack: Stack, c: Cluster) => `${clusterNamespace(stack, c)}.${c.name}`;

export function ollamaExposure(stack: Stack, c: Cluster): OllamaExposure | undefined {
  return c.ollamaEndpoint ? { host: c.ollamaEndpoint.host, tlsSecret: c.ollamaEndpoint.tlsSecret, keyRef: endpointKeyRef(stack, c) } : undefined;
}

interface PerCluster {
  cluster: Cluster;
  docs: unknown[];
  secrets: { name: string }[];
}

/**
 * An app whose manifests differ between clusters: the common case is the bundle's own file, and each
 * cluster that differs gets `overlays/<namespace>.<name>/<file>`, which Fleet's raw-YAML overlays put
 * in place of the base file (fleet v0.16.1 internal/helmdeployer/render/patch), chosen by a
 * targetCustomization that selects that one cluster. Secrets that only some clusters need ride on the
 * same customization; Fleet merges them with the bundle's own downstreamResources.
 */
function perClusterFiles(stack: Stack, f: Record<string, unknown>, dir: string, header: string, file: string, base: unknown[], clusters: PerCluster[], shared: string[]): TreeFile[] {
  const files: TreeFile[] = [{ path: `${dir}/${file}`, header, docs: base }];
  const baseText = toYamlDocs(base, '');
  const custom: Record<string, unknown>[] = [];
  for (const pc of clusters) {
    const own = pc.secrets.map((s) => s.name).filter((n) => !shared.includes(n));
    const differs = toYamlDocs(pc.docs, '') !== baseText;
    if (!differs && own.length === 0) continue;
    const name = overlayName(stack, pc.cluster);
    const entry: Record<string, unknown> = { name, clusterSelector: clusterSelector(stack, pc.cluster) };
    if (differs) {
      files.push({ path: `${dir}/overlays/${name}/${file}`, header, docs: pc.docs });
      entry.yaml = { overlays: [name] };
    }
    if (own.length > 0) entry.downstreamResources = [...new Set(own)].sort().map((n) => ({ kind: 'Secret', name: n }));
    custom.push(entry);
  }
  if (shared.length > 0) f.downstreamResources = shared.map((name) => ({ kind: 'Secret', name }));
  if (custom.length > 0) f.targetCustomizations = [...((f.targetCustomizations as unknown[]) ?? []), ...custom];
  return files;
}

export function renderBundle(stack: Stack, entry: BundleEntry, clusters: readonly Cluster[], dir: string): TreeFile[] {
  const header = generatedHeader(`Fleet bundle "${entry.name}" of stack "${stack.metadata.name}".`);
  const fleetYaml = renderFleetYaml(stack, entry, clusters);
  const files: TreeFile[] = [{ path: `${dir}/fleet.yaml`, header, docs: [fleetYaml] }];
  if (entry.name === 'ollama') {
    const per = clusters.map((c) => {
      const exposure = ollamaExposure(stack, c);
      return { cluster: c, docs: renderOllama(stack.spec.apps, exposure), secrets: exposure ? [{ name: exposure.keyRef.secretRef.name }, { name: exposure.tlsSecret }] : [] };
    });
    files.push(...perClusterFiles(stack, fleetYaml, dir, header, 'ollama.yaml', renderOllama(stack.spec.apps), per, []));
  }
  if (entry.name === 'litellm') {
    // Secrets every LiteLLM reads (the master key, hosted providers' keys) ride on the bundle itself.
    const shared = [...new Set(litellmEnv(stack).map((e) => e.secretRef.name))].sort();
    const per = clusters.map((c) => ({ cluster: c, docs: renderLitellm(stack, c), secrets: litellmEnv(stack, c).map((e) => ({ name: e.secretRef.name })) }));
    files.push(...perClusterFiles(stack, fleetYaml, dir, header, 'litellm.yaml', renderLitellm(stack), per, shared));
  }
  for (const file of entry.files) files.push({ path: `${dir}/${file.path}`, text: file.content });
  return files;
}

