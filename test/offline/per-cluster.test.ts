// Per-cluster app configuration as Fleet v0.16.1 deploys it (test/support/fleet-deploy.ts), and the
// Secrets each cluster needs: two clusters with one name in two namespaces keep their own settings,
// a gateway routes to the cluster that exposes its Ollama, and every Secret a pod reads reaches its
// cluster through exactly one bundle.
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { renderStack } from '../../src/render/index.js';
import { requiredSecrets } from '../../src/render/secret-plan.js';
import { loadSpec, parseSpec } from '../../src/spec/load.js';
import { deployedBundle, renderedClusterLabels } from '../support/fleet-deploy.js';
import { repoRoot } from '../support/paths.js';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

const TWINS = `apiVersion: llmstack.dev/v1alpha1
kind: Stack
metadata: {name: twins}
spec:
  clusters:
    - {name: edge, namespace: east, class: docker-llm, apps: [ollama, litellm], network: {pods: [10.10.0.0/16]}, ollamaEndpoint: {host: ollama.east.example.test, tlsSecret: east-tls}}
    - {name: edge, namespace: west, class: docker-llm, apps: [litellm], network: {pods: [10.20.0.0/16]}}
`;

function litellmConfigOf(files: ReturnType<typeof renderStack>['files'], ns: string, name: string) {
  const d = deployedBundle(files, 'bundles/litellm', renderedClusterLabels(files, ns, name))!;
  const cm = d.files.get('litellm.yaml')!.find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> };
  return { config: parse(cm.data['config.yaml']!) as { model_list: { litellm_params: Record<string, string> }[] }, deployed: d };
}

describe('two clusters named edge in namespaces east and west', () => {
  it('each gets its own pod network and its own LiteLLM routes', () => {
    const { files } = renderStack(parseSpec(TWINS, 'twins.yaml', catalog), catalog);
    const east = renderedClusterLabels(files, 'east', 'edge');
    const west = renderedClusterLabels(files, 'west', 'edge');
    expect(east['llmstack.dev/cluster-namespace']).toBe('east');
    expect(west['llmstack.dev/cluster-namespace']).toBe('west');

    // The pod network is each cluster's own ClusterResourceSet, in its own folder.
    const cni = (ns: string) => files.find((f) => f.path === `management/clusters/${ns}/edge/cni.yaml`)!.content;
    expect(cni('east')).toContain('10.10.0.0/16');
    expect(cni('east')).not.toContain('10.20.0.0/16');
    expect(cni('west')).toContain('10.20.0.0/16');
    expect(cni('west')).not.toContain('10.10.0.0/16');

    const e = litellmConfigOf(files, 'east', 'edge');
    const w = litellmConfigOf(files, 'west', 'edge');
    expect(e.config.model_list.map((m) => m.litellm_params)).toStrictEqual([
      { model: 'ollama_chat/qwen2.5:0.5b', api_base: 'http://ollama.llm.svc.cluster.local', api_key: 'os.environ/OLLAMA_KEY_EAST_EDGE' },
    ]);
    expect(w.config.model_list.map((m) => m.litellm_params)).toStrictEqual([
      { model: 'ollama_chat/qwen2.5:0.5b', api_base: 'https://ollama.east.example.test', api_key: 'os.environ/OLLAMA_KEY_EAST_EDGE' },
    ]);
    expect(e.deployed.customization).toBe('east.edge');
    expect(w.deployed.customization).toBe('west.edge');

    // east's Ollama sits behind the key check; it is the only cluster that gets the TLS Secret.
    const ollamaEast = deployedBundle(files, 'bundles/ollama', east)!;
    expect(ollamaEast.files.get('ollama.yaml')!.filter((o) => o.kind !== 'NetworkPolicy').map((o) => `${o.kind}/${(o.metadata as { name: string }).name}`)).toStrictEqual([
      'Service/ollama',
      'ConfigMap/ollama-auth',
      'DomainMapping/ollama.east.example.test',
    ]);
    expect(ollamaEast.downstreamResources).toStrictEqual([
      { kind: 'Secret', name: 'east-tls' },
      { kind: 'Secret', name: 'twins-east-edge-ollama-key' },
    ]);
    expect(deployedBundle(files, 'bundles/ollama', west)).toBeUndefined();
  });
});

describe.each(['quickstart', 'caapf', 'gpu-scale-from-zero', 'three-clusters'])('examples/%s.yaml', (example) => {
  it('every Secret a pod reads reaches its cluster through exactly one bundle, from the Bundle namespace', async () => {
    const stack = await loadSpec(`${repoRoot}/examples/${example}.yaml`, catalog);
    const { files, clusterBundles } = renderStack(stack, catalog);
    const required = requiredSecrets(stack);
    for (const c of stack.spec.clusters) {
      const ns = c.namespace ?? stack.spec.capi.namespace;
      const labels = renderedClusterLabels(files, ns, c.name);
      const read = new Set<string>();
      const delivered: string[] = [];
      for (const b of clusterBundles.get(`${ns}/${c.name}`)!) {
        const d = deployedBundle(files, `bundles/${b}`, labels);
        expect(d, `${b} targets ${ns}/${c.name}`).toBeDefined();
        delivered.push(...d!.downstreamResources.map((r) => r.name));
        for (const docs of d!.files.values()) for (const o of docs) for (const m of JSON.stringify(o).matchAll(/"secretKeyRef":\{"name":"([^"]+)"|"tls":\{"secretName":"([^"]+)"/g)) read.add((m[1] ?? m[2])!);
        const values = parse(files.find((f) => f.path === `bundles/${b}/fleet.yaml`)!.content)?.helm?.values as Record<string, string> | undefined;
        if (values?.openaiApiKeyExistingSecret) read.add(values.openaiApiKeyExistingSecret);
      }
      expect([...read].sort(), `${ns}/${c.name}`).toStrictEqual([...new Set(delivered)].sort());
      expect(delivered.length, `${ns}/${c.name}: a Secret listed by two bundles`).toBe(new Set(delivered).size);
      // And `llmstack secrets` looks for each of them in the namespace of this cluster's Bundles.
      const bundleNs = stack.spec.import.strategy === 'rancher' ? 'fleet-default' : ns;
      for (const name of read) expect(required.some((r) => r.namespace === bundleNs && r.name === name && r.usedBy.includes(`${ns}/${c.name}`)), `${name} for ${ns}/${c.name}`).toBe(true);
    }
  });
});

describe('the Secrets of three-clusters', () => {
  it('are the master key, the models endpoint key for both ends, and the TLS certificate, in fleet-default', async () => {
    const stack = await loadSpec(`${repoRoot}/examples/three-clusters.yaml`, catalog);
    expect(requiredSecrets(stack).map((s) => ({ id: `${s.namespace}/${s.name}`, keys: s.keys, origin: s.origin, usedBy: s.usedBy }))).toStrictEqual([
      { id: 'fleet-default/fleet-demo-litellm-master-key', keys: ['master-key'], origin: 'generated', usedBy: ['llm-clusters/chat', 'llm-clusters/gateway'] },
      { id: 'fleet-default/fleet-demo-llm-models-models-ollama-key', keys: ['api-key'], origin: 'generated', usedBy: ['llm-clusters/gateway', 'llm-models/models'] },
      { id: 'fleet-default/models-ollama-tls', keys: ['tls.crt', 'tls.key'], origin: 'user', usedBy: ['llm-models/models'] },
    ]);
  });
});
