// Fleet bundles for the workload clusters: catalog folders, completed with what the spec decides
// (targets, stack labels, app configuration). Each cluster carries a label per bundle it should get,
// so one bundle folder serves every cluster of the stack.
import type { BundleEntry, Catalog } from '../catalog/types.js';
import type { Cluster, Stack } from '../spec/schema.js';
import { openwebuiIngressValues, renderIngress } from './apps/ingress.js';
import { LITELLM_LABELS, renderLitellm } from './apps/litellm.js';
import { litellmPolicies, namespacePolicies, ollamaPolicies, openwebuiPolicies } from './apps/network.js';
import { APPS_NAMESPACE, renderOllama } from './apps/ollama.js';
import { openwebuiValues } from './apps/openwebui.js';
import { litellmScaling } from './apps/scaling.js';
import { POD_SECURITY_LABELS } from './apps/security.js';
import { clusterNamespace } from './cluster.js';
import { gpuTolerations, hasGpuPool, ollamaGpuPlacement, type ClassTaints } from './gpu.js';
import { LABEL } from './labels.js';
import { generatedHeader } from './yaml.js';

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
    // Open WebUI authenticates to LiteLLM with the gateway's master key; without one LiteLLM takes any key.
    const masterKey = stack.spec.apps.litellm.masterKey;
    if (masterKey) {
      values.openaiApiKeyExistingSecret = masterKey.secretRef.name;
      values.openaiApiKeyExistingSecretKey = masterKey.secretRef.key;
    } else {
      delete values.openaiApiKeyExistingSecret;
      delete values.openaiApiKeyExistingSecretKey;
    }
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

export function renderBundle(stack: Stack, entry: BundleEntry, clusters: readonly Cluster[], dir: string, classTaints?: ClassTaints): TreeFile[] {
  const header = generatedHeader(`Fleet bundle "${entry.name}" of stack "${stack.metadata.name}".`);
  const files: TreeFile[] = [{ path: `${dir}/fleet.yaml`, header, docs: [renderFleetYaml(stack, entry, clusters, classTaints)] }];
  const policies = stack.spec.apps.networkPolicies;
  if (entry.name === 'llm-namespace') {
    files.push({ path: `${dir}/namespace.yaml`, header, docs: [appsNamespace()] });
    if (policies) files.push({ path: `${dir}/network-policies.yaml`, header, docs: namespacePolicies() });
  }
  if (entry.name === 'ollama') {
    files.push({ path: `${dir}/ollama.yaml`, header, docs: [...renderOllama(stack.spec.apps, classTaints && ollamaGpuPlacement(stack, clusters, classTaints)), ...(policies ? ollamaPolicies() : [])] });
  }
  if (entry.name === 'litellm') {
    files.push({ path: `${dir}/litellm.yaml`, header, docs: [
        ...renderLitellm(stack.spec.apps),
        ...litellmScaling(stack.spec.apps),
        ...(stack.spec.apps.litellm.ingress ? [renderIngress('litellm', stack.spec.apps.litellm.ingress, { ...LITELLM_LABELS, 'app.kubernetes.io/part-of': 'llmstack' })] : []),
        ...(policies ? litellmPolicies(stack) : []),
      ] });
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
