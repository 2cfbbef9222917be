// Fleet bundles for the workload clusters: catalog folders, completed with what the spec decides
// (targets, stack labels, app configuration). Each cluster carries a label per bundle it should get,
// so one bundle folder serves every cluster of the stack.
import type { BundleEntry, Catalog } from '../catalog/types.js';
import type { Cluster, Stack } from '../spec/schema.js';
import { openwebuiIngressValues, renderIngress } from './apps/ingress.js';
import { LITELLM_LABELS, litellmEnv, renderLitellm } from './apps/litellm.js';
import { litellmPolicies, namespacePolicies, ollamaPolicies, openwebuiPolicies } from './apps/network.js';
import { APPS_NAMESPACE, renderOllama, type OllamaExposure } from './apps/ollama.js';
import { openwebuiValues } from './apps/openwebui.js';
import { litellmScaling } from './apps/scaling.js';
import { POD_SECURITY_LABELS } from './apps/security.js';
import { clusterNamespace, clusterSelector } from './cluster.js';
import { gpuTolerations, hasGpuPool, ollamaGpuPlacement, type ClassTaints } from './gpu.js';
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
  // Nodes of a GPU pool offer nvidia.com/gpu only once the device plugin runs on them.
  if (hasGpuPool(cluster)) visit('nvidia-device-plugin');
  cluster.apps.forEach(visit);
  return [...out].sort();
}

function targetSelector(stack: Stack, bundle: string): Record<string, string> {
  return { [LABEL.stack]: stack.metadata.name, [`${LABEL.bundlePrefix}${bundle}`]: 'true' };
}

export function renderFleetYaml(stack: Stack, entry: BundleEntry, clusters: readonly Cluster[], classTaints?: ClassTaints): Record<string, unknown> {
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
    Object.assign(values, openwebuiValues(stack.spec.apps.networkPolicies ? openwebuiPolicies() : []));
    const ingress = stack.spec.apps.openwebui.ingress;
    if (ingress) values.ingress = openwebuiIngressValues(ingress);
    values.persistence = { ...(values.persistence as object | undefined), enabled: true, size: stack.spec.apps.openwebui.persistence };
    // Open WebUI authenticates to LiteLLM with its master key, which the litellm bundle delivers to
    // the same namespace (a Secret is listed in one bundle only: Fleet labels each copy with the
    // BundleDeployment that made it and deletes it with that BundleDeployment).
    const masterKey = masterKeyRef(stack).secretRef;
    values.openaiApiKeyExistingSecret = masterKey.name;
    values.openaiApiKeyExistingSecretKey = masterKey.key;
    if (stack.spec.apps.openwebui.chartVersion) helm.version = stack.spec.apps.openwebui.chartVersion;
  }
  if (entry.name === 'nvidia-device-plugin' && classTaints) {
    // The plugin must run on every GPU node, whatever taints its pool carries.
    const values = (((f.helm ??= {}) as Record<string, unknown>).values ??= {}) as Record<string, unknown>;
    const catalogTolerations = (values.tolerations as unknown[] | undefined) ?? [];
    const keyOf = (t: unknown) => JSON.stringify(t);
    const seen = new Set(catalogTolerations.map(keyOf));
    values.tolerations = [...catalogTolerations, ...gpuTolerations(clusters, classTaints).filter((t) => !seen.has(keyOf(t)))];
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

export function renderBundle(stack: Stack, entry: BundleEntry, clusters: readonly Cluster[], dir: string, classTaints?: ClassTaints): TreeFile[] {
  const header = generatedHeader(`Fleet bundle "${entry.name}" of stack "${stack.metadata.name}".`);
  const fleetYaml = renderFleetYaml(stack, entry, clusters, classTaints);
  const files: TreeFile[] = [{ path: `${dir}/fleet.yaml`, header, docs: [fleetYaml] }];
  const policies = stack.spec.apps.networkPolicies;
  if (entry.name === 'llm-namespace') {
    files.push({ path: `${dir}/namespace.yaml`, header, docs: [appsNamespace()] });
    if (policies) files.push({ path: `${dir}/network-policies.yaml`, header, docs: namespacePolicies() });
  }
  if (entry.name === 'ollama') {
    const placement = classTaints && ollamaGpuPlacement(stack, clusters, classTaints);
    const docs = (exposure?: OllamaExposure) => [...renderOllama(stack.spec.apps, placement, exposure), ...(policies ? ollamaPolicies(stack.spec.apps) : [])];
    const per = clusters.map((c) => {
      const exposure = ollamaExposure(stack, c);
      return { cluster: c, docs: docs(exposure), secrets: exposure ? [{ name: exposure.keyRef.secretRef.name }, { name: exposure.tlsSecret }] : [] };
    });
    files.push(...perClusterFiles(stack, fleetYaml, dir, header, 'ollama.yaml', docs(), per, []));
  }
  if (entry.name === 'litellm') {
    const docs = (c?: Cluster) => [
      ...renderLitellm(stack, c),
      ...litellmScaling(stack.spec.apps),
      ...(stack.spec.apps.litellm.ingress ? [renderIngress('litellm', stack.spec.apps.litellm.ingress, { ...LITELLM_LABELS, 'app.kubernetes.io/part-of': 'llmstack' })] : []),
      ...(policies ? litellmPolicies(stack, c) : []),
    ];
    // Secrets every LiteLLM reads (the master key, hosted providers' keys) ride on the bundle itself.
    const shared = [...new Set(litellmEnv(stack).map((e) => e.secretRef.name))].sort();
    const per = clusters.map((c) => ({ cluster: c, docs: docs(c), secrets: litellmEnv(stack, c).map((e) => ({ name: e.secretRef.name })) }));
    files.push(...perClusterFiles(stack, fleetYaml, dir, header, 'litellm.yaml', docs(), per, shared));
  }
  for (const file of entry.files) files.push({ path: `${dir}/${file.path}`, text: file.content });
  return files;
}

/** Namespace llm, enforcing the restricted Pod Security level; kept when its bundle is removed. */
function appsNamespace(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: APPS_NAMESPACE,
      labels: { ...POD_SECURITY_LABELS, 'app.kubernetes.io/part-of': 'llmstack' },
      annotations: { 'helm.sh/resource-policy': 'keep' },
    },
  };
}
