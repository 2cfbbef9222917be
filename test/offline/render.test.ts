// Unit tests of the pure render functions: small objects, exact expectations.
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { autoscalerImage, renderAutoscaler } from '../../src/render/autoscaler.js';
import { renderLitellm } from '../../src/render/apps/litellm.js';
import { ollamaListName, renderOllama } from '../../src/render/apps/ollama.js';
import { bundleClosure } from '../../src/render/bundles.js';
import { renderCluster } from '../../src/render/cluster.js';
import { renderGitRepos } from '../../src/render/gitrepos.js';
import { classEntry, renderStack } from '../../src/render/index.js';
import { dnsName } from '../../src/render/names.js';
import { toYaml } from '../../src/render/yaml.js';
import { parseSpec } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/schema.js';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

function stack(specYaml: string, name = 'demo'): Stack {
  return parseSpec(`apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: ${name}}\nspec:\n${specYaml}`, 'test.yaml', catalog);
}

describe('Cluster', () => {
  it('leaves replicas unset for autoscaled pools and sets them for fixed pools', () => {
    // GIVEN one autoscaled and one fixed pool
    const s = stack(`  clusters:
    - name: c1
      class: docker-llm
      nodePools:
        - {name: auto, autoscaling: {min: 1, max: 5}}
        - {name: fixed, replicas: 2}
`);
    // WHEN the Cluster is rendered
    const c = renderCluster(s, s.spec.clusters[0]!, classEntry(s, 'docker-llm', catalog), ['metrics-server']);
    // THEN the topology says so
    const mds = (c.spec as { topology: { workers: { machineDeployments: unknown[] } } }).topology.workers.machineDeployments;
    expect(JSON.parse(JSON.stringify(mds))).toStrictEqual([
      {
        class: 'default-worker',
        name: 'auto',
        metadata: {
          annotations: {
            'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '1',
            'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': '5',
          },
        },
      },
      { class: 'default-worker', name: 'fixed', replicas: 2 },
    ]);
  });

  it('uses classRef on v1beta2 and class on v1beta1', () => {
    const v2 = stack(`  clusters: [{name: c1, class: docker-llm}]\n`);
    const v1 = stack(`  capi: {apiVersion: v1beta1}\n  clusters: [{name: c1, class: docker-llm}]\n`);
    const t2 = (renderCluster(v2, v2.spec.clusters[0]!, classEntry(v2, 'docker-llm', catalog), []).spec as { topology: Record<string, unknown> }).topology;
    const t1 = (renderCluster(v1, v1.spec.clusters[0]!, classEntry(v1, 'docker-llm', catalog), []).spec as { topology: Record<string, unknown> }).topology;
    expect(t2.classRef).toStrictEqual({ name: 'docker-llm' });
    expect(t2.class).toBeUndefined();
    expect(t1.class).toBe('docker-llm');
    expect(t1.classRef).toBeUndefined();
  });

  it('labels for auto-import per strategy, with an explicit false when turned off and for CAAPF', () => {
    const labels = (imp: string) => {
      const s = stack(`  import: ${imp}\n  clusters: [{name: c1, class: docker-llm}]\n`);
      const l = renderCluster(s, s.spec.clusters[0]!, classEntry(s, 'docker-llm', catalog), []).metadata.labels ?? {};
      return [l['cluster-api.cattle.io/rancher-auto-import'], l['llmstack.dev/import-strategy']];
    };
    expect(labels('{strategy: rancher}')).toStrictEqual(['true', 'rancher']);
    expect(labels('{strategy: rancher, autoImport: false}')).toStrictEqual(['false', 'rancher']);
    // CAAPF registers the cluster with Fleet: Rancher must not import it as well, whatever its namespace says.
    expect(labels('{strategy: caapf}')).toStrictEqual(['false', 'caapf']);
  });
});

describe('bundles', () => {
  it('gives every cluster the base bundles plus its apps and their dependencies', () => {
    const s = stack(`  clusters:
    - {name: a, class: docker-llm, apps: [litellm]}
    - {name: b, class: docker-llm, apps: [ollama], ollamaEndpoint: {host: ollama.b.example.test, tlsSecret: b-tls}}
`);
    expect(bundleClosure(s.spec.clusters[0]!, catalog)).toStrictEqual(['litellm', 'llm-namespace', 'local-path-storage', 'metrics-server']);
    expect(bundleClosure(s.spec.clusters[1]!, catalog)).toStrictEqual([
      'knative-operator',
      'knative-serving',
      'llm-namespace',
      'local-path-storage',
      'metrics-server',
      'ollama',
    ]);
  });

  it('renders only the bundles some cluster uses', () => {
    const s = stack(
      `  clusters: [{name: a, class: docker-llm, apps: [litellm]}]\n  apps: {litellm: {models: [{name: g, model: openai/gpt-4o-mini, apiKey: {secretRef: {name: openai, key: k}}}]}}\n`,
    );
    const bundles = new Set(renderStack(s, catalog).files.filter((f) => f.path.startsWith('bundles/')).map((f) => f.path.split('/')[1]));
    expect([...bundles].sort()).toStrictEqual(['litellm', 'llm-namespace', 'local-path-storage', 'metrics-server']);
  });
});

describe('pod network', () => {
  type Cm = { kind: string; metadata: { name: string; namespace: string }; data?: Record<string, string>; spec?: { clusterSelector: { matchLabels: Record<string, string> }; resources: unknown[] } };
  const cniOf = (s: Stack, ns: string, name: string): Cm[] => {
    const f = renderStack(s, catalog).tree.find((t) => t.path === `management/clusters/${ns}/${name}/cni.yaml`);
    return f && 'docs' in f ? (f.docs as Cm[]) : [];
  };

  it('comes with the Cluster from Cluster API, with each cluster\'s own pod CIDR, never as a Fleet bundle', () => {
    // GIVEN two clusters of one name in two namespaces, with different pod CIDRs (one dual stack)
    const s = stack(`  clusters:
    - {name: edge, namespace: a, class: docker-llm, network: {pods: [10.10.0.0/16]}}
    - {name: edge, namespace: b, class: docker-llm, network: {pods: [10.20.0.0/16, "fd00:20::/56"], services: [10.96.0.0/12]}}
`);
    for (const [ns, subnet] of [
      ['a', '10.10.0.0/16'],
      ['b', '10.20.0.0/16,fd00:20::/56'],
    ] as const) {
      const [cm, crs] = cniOf(s, ns, 'edge');
      // THEN each cluster's namespace has its own ConfigMap and ClusterResourceSet, selecting only that
      // cluster (a ClusterResourceSet only ever selects Clusters of its own namespace)
      expect(cm!.kind).toBe('ConfigMap');
      expect(cm!.metadata).toMatchObject({ name: 'edge-cni-kindnet', namespace: ns });
      expect(crs!.kind).toBe('ClusterResourceSet');
      expect(crs!.metadata).toMatchObject({ name: 'edge-cni-kindnet', namespace: ns });
      expect(crs!.spec!.clusterSelector.matchLabels).toStrictEqual({ 'llmstack.dev/cluster': 'edge', 'llmstack.dev/stack': 'demo' });
      expect(crs!.spec!.resources).toStrictEqual([{ kind: 'ConfigMap', name: 'edge-cni-kindnet' }]);
      // AND the DaemonSet in the ConfigMap takes that cluster's pod CIDRs
      const ds = parseAllDocuments(cm!.data!['kindnet.yaml']!).map((d) => d.toJS()).find((o) => o.kind === 'DaemonSet');
      const env = ds.spec.template.spec.containers[0].env as { name: string; value?: string }[];
      expect(env.find((e) => e.name === 'POD_SUBNET')?.value).toBe(subnet);
    }
    // AND no Fleet bundle carries a CNI
    const bundleText = renderStack(s, catalog).files.filter((f) => f.path.startsWith('bundles/')).map((f) => f.content).join('\n');
    expect(bundleText).not.toMatch(/kindnet|calico|tigera|cilium|flannel/i);
  });
});

describe('apps', () => {
  it('LiteLLM reads keys from Secrets and never carries a value', () => {
    const s = stack(`  apps:
    litellm:
      models:
        - {name: local, model: ollama/qwen2.5:0.5b}
        - {name: gpt-4o, model: openai/gpt-4o, apiKey: {secretRef: {name: openai, key: api-key}}}
`);
    const [config, deployment] = renderLitellm(s);
    expect((config as unknown as { data: Record<string, string> }).data['config.yaml']).toBe(
      [
        'model_list:',
        '  - model_name: local',
        '    litellm_params:',
        '      model: ollama/qwen2.5:0.5b',
        '      api_base: http://ollama.llm.svc.cluster.local',
        '  - model_name: gpt-4o',
        '    litellm_params:',
        '      model: openai/gpt-4o',
        '      api_key: os.environ/LITELLM_KEY_GPT_4O',
        'litellm_settings:',
        '  drop_params: true',
        // apps.monitoring.metrics (default): LiteLLM's own services' counters on /metrics/.
        '  service_callback:',
        '    - prometheus_system',
        '  success_callback:',
        '    - prometheus_system',
        'general_settings:',
        '  master_key: os.environ/LITELLM_MASTER_KEY',
        '',
      ].join('\n'),
    );
    const env = (deployment as unknown as { spec: { template: { spec: { containers: { env: unknown[] }[] } } } }).spec.template.spec.containers[0]!.env;
    expect(env).toStrictEqual([
      { name: 'LITELLM_KEY_GPT_4O', valueFrom: { secretKeyRef: { name: 'openai', key: 'api-key' } } },
      { name: 'LITELLM_MASTER_KEY', valueFrom: { secretKeyRef: { name: 'demo-litellm-master-key', key: 'master-key' } } },
    ]);
  });

  it('Ollama scales with Knative annotations and holds readiness until the models are there', () => {
    const s = stack(`  apps:\n    ollama: {models: [a, "b:1b"], scale: {min: 0, max: 4, target: 2, window: 30s}}\n`);
    const [svc] = renderOllama(s.spec.apps);
    const tmpl = (svc as unknown as { spec: { template: { metadata: { annotations: Record<string, string> }; spec: { containers: { env: { name: string; value: string }[] }[] } } } }).spec.template;
    expect(tmpl.metadata.annotations).toStrictEqual({
      'autoscaling.knative.dev/metric': 'concurrency',
      'autoscaling.knative.dev/target': '2',
      'autoscaling.knative.dev/min-scale': '0',
      'autoscaling.knative.dev/max-scale': '4',
      'autoscaling.knative.dev/window': '30s',
    });
    expect(tmpl.spec.containers[0]!.env.find((e) => e.name === 'LLMSTACK_MODELS')?.value).toBe('a b:1b');
  });
});

describe('Ollama model cache', () => {
  const ollama = (cache: string, models = '["qwen2.5:0.5b"]') => stack(`  clusters: [{name: c1, class: docker-llm}]\n  apps:\n    ollama: {models: ${models}, cache: ${cache}}\n`).spec.apps;
  type Obj = { kind: string; metadata: { name: string }; spec: any };
  const objs = (cache: string, models?: string) => renderOllama(ollama(cache, models)) as unknown as Obj[];

  it('pod (the default): an emptyDir of cache.size, no claim, no Job', () => {
    expect(stack('  clusters: [{name: c1, class: docker-llm}]\n').spec.apps.ollama.cache).toStrictEqual({ mode: 'pod', size: '10Gi' });
    const out = objs('{size: 30Gi}');
    expect(out.map((o) => o.kind)).toStrictEqual(['Service']);
    expect(out[0]!.spec.template.spec.volumes[0]).toStrictEqual({ name: 'models', emptyDir: { sizeLimit: '30Gi' } });
  });

  it('shared: an RWX claim, the Service mounting it read-only, and a Job writing it', () => {
    const [svc, claim, job] = objs('{mode: shared, size: 50Gi, storageClass: efs}');
    expect(claim!.spec).toStrictEqual({ accessModes: ['ReadWriteMany'], storageClassName: 'efs', resources: { requests: { storage: '50Gi' } } });
    const pod = svc!.spec.template.spec;
    expect(pod.volumes[0]).toStrictEqual({ name: 'models', persistentVolumeClaim: { claimName: 'ollama-models', readOnly: true } });
    expect(pod.containers[0].volumeMounts[0]).toStrictEqual({ name: 'models', mountPath: '/models', readOnly: true });
    expect(job!.kind).toBe('Job');
    expect(job!.spec.template.spec.volumes[0]).toStrictEqual({ name: 'models', persistentVolumeClaim: { claimName: 'ollama-models' } });
    expect(job!.spec.ttlSecondsAfterFinished).toBeUndefined();
    // Without storageClass the claim takes the cluster's default class.
    expect(objs('{mode: shared}')[1]!.spec.storageClassName).toBeUndefined();
  });

  it("keeps each spec model under the name `ollama list` gives it (Ollama 0.12.6 DisplayShortest)", () => {
    expect(['qwen2.5:0.5b', 'qwen2.5', 'library/qwen2.5:0.5b', 'registry.ollama.ai/library/llama3.2:1b', 'registry.ollama.ai/team/m:v1', 'team/m', 'models.example.com/team/m:q4'].map(ollamaListName)).toStrictEqual([
      'qwen2.5:0.5b',
      'qwen2.5:latest',
      'qwen2.5:0.5b',
      'llama3.2:1b',
      'team/m:v1',
      'team/m:latest',
      'models.example.com/team/m:q4',
    ]);
    expect(ollamaListName('127.0.0.1:5000/library/tiny:v1')).toBe('127.0.0.1:5000/library/tiny:v1');
    const env = objs('{mode: shared}', '["library/qwen2.5:0.5b", "llama3.2"]')[2]!.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'LLMSTACK_KEEP', value: 'qwen2.5:0.5b llama3.2:latest' });
  });

  it('names the Job by what it pulls: the same for the same list, new for a new one', () => {
    const name = (models: string) => objs('{mode: shared}', models)[2]!.metadata.name;
    expect(name('["a:1"]')).toMatch(/^ollama-models-[0-9a-f]{10}$/);
    expect(name('["a:1"]')).toBe(name('["a:1"]'));
    expect(name('["a:1", "b:2"]')).not.toBe(name('["a:1"]'));
  });
});

describe('autoscaler', () => {
  it('is limited to the cluster namespace and matches the workload Kubernetes minor', () => {
    const s = stack(`  clusters: [{name: c1, namespace: team-a, class: docker-llm, kubernetesVersion: v1.33.4}]\n`);
    const objs = renderAutoscaler(s, s.spec.clusters[0]!, ['dockermachinetemplates']);
    expect(objs.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)).toStrictEqual([
      'ServiceAccount/team-a/c1-autoscaler',
      'Role/team-a/c1-autoscaler',
      'RoleBinding/team-a/c1-autoscaler',
      'Deployment/team-a/c1-autoscaler',
      'NetworkPolicy/team-a/c1-autoscaler',
    ]);
    const container = (objs[3]!.spec as { template: { spec: { containers: { image: string; args: string[] }[] } } }).template.spec.containers[0]!;
    expect(container.image).toBe('registry.k8s.io/autoscaling/cluster-autoscaler:v1.33.6');
    expect(container.args).toContain('--node-group-auto-discovery=clusterapi:namespace=team-a,clusterName=c1');
    expect(autoscalerImage('v1.99.0')).toBe('registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.0');
  });
});

describe('GitRepos', () => {
  it('puts app GitRepos in fleet-default for rancher and in each cluster namespace for caapf', () => {
    const rancher = stack(`  git: {url: http://git.example.test/r.git, path: x}\n  clusters: [{name: a, class: docker-llm}]\n`);
    const caapf = stack(`  git: {url: http://git.example.test/r.git}\n  import: {strategy: caapf}\n  clusters: [{name: a, class: docker-llm}, {name: b, namespace: other, class: docker-llm}]\n`);
    expect(renderGitRepos(rancher).map((r) => `${r.metadata.namespace}/${r.metadata.name} ${(r.spec as { paths: string[] }).paths.join(',')}`)).toStrictEqual([
      'fleet-local/demo-management x/management',
      'fleet-default/demo-apps x/bundles',
    ]);
    expect(renderGitRepos(caapf).map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toStrictEqual([
      'fleet-local/demo-management',
      'default/demo-apps',
      'other/demo-apps',
    ]);
    expect(renderGitRepos(stack(`  clusters: []\n`))).toStrictEqual([]);
  });
});

describe('names and YAML', () => {
  it('cuts long names to 63 characters with a stable hash', () => {
    const long = dnsName(['a'.repeat(50), 'b'.repeat(30)]);
    expect(long).toHaveLength(63);
    expect(long).toBe(dnsName(['a'.repeat(50), 'b'.repeat(30)]));
    expect(long).not.toBe(dnsName(['a'.repeat(50), 'c'.repeat(30)]));
    expect(dnsName(['My', 'Cluster_1'])).toBe('my-cluster-1');
  });

  it('prints apiVersion, kind and metadata first, sorts labels, drops undefined', () => {
    expect(toYaml({ spec: { b: 1, a: undefined }, metadata: { labels: { z: '1', a: 'true' }, name: 'n' }, kind: 'K', apiVersion: 'v1' })).toBe(
      'apiVersion: v1\nkind: K\nmetadata:\n  name: n\n  labels:\n    a: "true"\n    z: "1"\nspec:\n  b: 1\n',
    );
  });
});
