// GPU pools schedule: the node the autoscaler would add to a GPU pool (its scale-from-zero template,
// as the clusterapi provider reads it from the MachineDeployment annotations) offers nvidia.com/gpu
// once the device plugin runs there, and the Ollama revision pod fits it and no other pool. On each
// cloud a spot GPU pool's own taint is tolerated.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { renderStack, type RenderedFile } from '../../src/render/index.js';
import { parseSpec } from '../../src/spec/load.js';
import { exampleFor } from '../support/examples.js';
import { repoRoot } from '../support/paths.js';
import { knativeRevisionPod } from '../support/pod-templates.js';

const CAP = 'capacity.cluster-autoscaler.kubernetes.io/';

interface Node {
  labels: Record<string, string>;
  taints: { key: string; value?: string; effect: string }[];
  allocatable: Record<string, number>;
}
type Toleration = { key?: string; operator?: string; value?: string; effect?: string };

/** The template node of a pool, from the annotations the autoscaler reads. */
function templateNode(annotations: Record<string, string>, devicePluginRuns: boolean): Node {
  const labels = Object.fromEntries((annotations[`${CAP}labels`] ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
  const taints = (annotations[`${CAP}taints`] ?? '')
    .split(',')
    .filter(Boolean)
    .map((s) => {
      const [kv, effect] = s.split(':');
      const [key, value] = kv!.split('=');
      return { key: key!, value: value || undefined, effect: effect! };
    });
  const allocatable: Record<string, number> = {};
  // The kubelet advertises the GPU resource only through a device plugin.
  if (annotations[`${CAP}gpu-type`] && devicePluginRuns) allocatable[annotations[`${CAP}gpu-type`]!] = Number(annotations[`${CAP}gpu-count`]);
  return { labels, taints, allocatable };
}

/** Kubernetes' toleration rule (k8s.io/api core/v1 Toleration.ToleratesTaint). */
function tolerates(tolerations: Toleration[], taint: Node['taints'][number]): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

interface PodSpec {
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchExpressions: { key: string; operator: string; values: string[] }[] }[] } } };
  containers?: { resources?: { requests?: Record<string, string> } }[];
}

/** Why a pod would not fit a node (node selector, required node affinity, NoSchedule/NoExecute taints, extended resources); [] when it fits. */
function misfits(spec: PodSpec, node: Node): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) if (node.labels[k] !== v) out.push(`nodeSelector ${k}=${v}`);
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && !terms.some((t) => t.matchExpressions.every((e) => e.operator === 'In' && e.values.includes(node.labels[e.key] ?? '\0')))) out.push('node affinity');
  for (const t of node.taints) if (t.effect !== 'PreferNoSchedule' && !tolerates(spec.tolerations ?? [], t)) out.push(`taint ${t.key}=${t.value ?? ''}:${t.effect}`);
  for (const c of spec.containers ?? []) {
    for (const [r, q] of Object.entries(c.resources?.requests ?? {})) {
      if (r.includes('/') && (node.allocatable[r] ?? 0) < Number(q)) out.push(`resource ${r}`);
    }
  }
  return out;
}

function objects(files: RenderedFile[], suffix: string): any[] {
  return files.filter((f) => f.path.endsWith(suffix)).flatMap((f) => parseAllDocuments(f.content).map((d) => d.toJS()));
}

function poolAnnotations(files: RenderedFile[], pool: string): Record<string, string> {
  const cluster = objects(files, '/cluster.yaml')[0];
  return cluster.spec.topology.workers.machineDeployments.find((m: { name: string }) => m.name === pool).metadata?.annotations ?? {};
}

function scheduling(files: RenderedFile[]) {
  const ollama = objects(files, 'bundles/ollama/ollama.yaml').find((o) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1');
  const plugin = objects(files, 'bundles/nvidia-device-plugin/fleet.yaml')[0];
  return { ollamaPod: knativeRevisionPod(ollama).spec as PodSpec, pluginPod: { affinity: plugin?.helm.values.affinity, tolerations: plugin?.helm.values.tolerations } as PodSpec, plugin };
}

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

describe('the gpu-scale-from-zero example', () => {
  it('gets the device plugin, whose pod lands on the GPU pool, which then offers nvidia.com/gpu, and Ollama fits only there', () => {
    const stack = exampleFor('gpu-scale-from-zero.yaml', 'v1beta2', catalog);
    const { files, clusterBundles } = renderStack(stack, catalog);
    expect([...clusterBundles.values()][0]).toContain('nvidia-device-plugin');
    const { ollamaPod, pluginPod } = scheduling(files);

    const gpuAnnotations = poolAnnotations(files, 'gpu');
    expect(gpuAnnotations[`${CAP}gpu-count`]).toBe('1');
    // The plugin's DaemonSet pod runs on the GPU node (its affinity and tolerations)...
    expect(misfits(pluginPod, templateNode(gpuAnnotations, false))).toEqual([]);
    // ...so the node offers the GPU, and Ollama fits it;
    expect(misfits(ollamaPod, templateNode(gpuAnnotations, true))).toEqual([]);
    // without the plugin the same node offers no GPU and Ollama would stay Pending.
    expect(misfits(ollamaPod, templateNode(gpuAnnotations, false))).toEqual(['resource nvidia.com/gpu']);
    // The CPU pool is never chosen.
    expect(misfits(ollamaPod, templateNode(poolAnnotations(files, 'md-0'), true))).toContain('nodeSelector node.llmstack.dev/gpu=true');
  });

  it('puts no device plugin on a cluster without a GPU pool', () => {
    const { clusterBundles } = renderStack(exampleFor('quickstart.yaml', 'v1beta2', catalog), catalog);
    expect([...clusterBundles.values()].flat()).not.toContain('nvidia-device-plugin');
  });
});

describe('spot GPU pools on each cloud', () => {
  let dir: string;
  let clouds: Catalog;
  beforeAll(async () => {
    // The same ClusterClass files under the names of cloud providers: what differs is only the
    // taint each cloud puts on spot nodes itself.
    dir = mkdtempSync(path.join(os.tmpdir(), 'llmstack-clouds-'));
    for (const p of ['azure', 'gcp', 'aws']) cpSync(path.join(repoRoot, 'clusterclasses/docker'), path.join(dir, p), { recursive: true });
    clouds = await loadCatalog({ clusterClassesDir: dir });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const render = (provider: string) => {
    const spec = `apiVersion: llmstack.dev/v1alpha1
kind: Stack
metadata: {name: spot}
spec:
  clusterClasses: [{name: c, provider: ${provider}}]
  clusters:
    - name: w
      class: c
      nodePools:
        - {name: md-0, autoscaling: {min: 1, max: 2}, capacity: {cpu: "4", memory: 16Gi}}
        - {name: gpu, class: gpu-worker, spot: true, autoscaling: {min: 0, max: 2}, capacity: {cpu: "8", memory: 32Gi, gpu: {type: nvidia.com/gpu, count: 1}}}
  apps:
    ollama: {gpu: {type: nvidia.com/gpu, count: 1}}
`;
    return renderStack(parseSpec(spec, 'spot.yaml', clouds), clouds).files;
  };

  for (const [provider, taint] of [
    ['azure', 'kubernetes.azure.com/scalesetpriority=spot:NoSchedule'],
    ['gcp', 'cloud.google.com/gke-spot=true:NoSchedule'],
  ] as const) {
    it(`${provider}: the spot taint is on the node template, and Ollama and the device plugin tolerate it`, () => {
      const files = render(provider);
      const annotations = poolAnnotations(files, 'gpu');
      expect(annotations[`${CAP}taints`]!.split(',')).toContain(taint);
      const { ollamaPod, pluginPod } = scheduling(files);
      expect(misfits(pluginPod, templateNode(annotations, false))).toEqual([]);
      expect(misfits(ollamaPod, templateNode(annotations, true))).toEqual([]);
      // the check can fail: without that toleration the pod would not fit
      const without = { ...ollamaPod, tolerations: ollamaPod.tolerations!.filter((t) => `${t.key}=${t.value}:${t.effect}` !== taint) };
      expect(misfits(without, templateNode(annotations, true))).toEqual([`taint ${taint}`]);
    });
  }

  it('aws: EKS puts no taint on spot nodes, so only the GPU taints are tolerated', () => {
    const files = render('aws');
    expect(poolAnnotations(files, 'gpu')[`${CAP}taints`]).toBe('nvidia.com/gpu=present:NoSchedule');
    expect(scheduling(files).ollamaPod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' }]);
  });
});
