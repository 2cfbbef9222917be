// The rendered NetworkPolicies judged as Kubernetes would (test/support/netpol.ts): for every cluster
// of every example, the set of allowed connections between the stack's pods, Knative's data path, DNS,
// other pods and the internet is exactly the set the stack needs, and nothing else.
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { renderStack } from '../../src/render/index.js';
import { litellmModels, ollamaServers } from '../../src/render/apps/litellm.js';
import { parseSpec } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/schema.js';
import { exampleCases, exampleFor } from '../support/examples.js';
import { deployedBundle, renderedClusterLabels } from '../support/fleet-deploy.js';
import { allowed, inCidr, selects, type Endpoint, type NetworkPolicy, type World } from '../support/netpol.js';
import { openwebuiValuesOf } from '../support/pod-templates.js';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec: any };

function docs(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => !!o && typeof o.kind === 'string');
}

/** NetworkPolicies per bundle, in the namespace Fleet puts them (metadata.namespace, else the bundle's llm). */
function policiesByBundle(stack: Stack): Map<string, NetworkPolicy[]> {
  const { files } = renderStack(stack, catalog);
  const out = new Map<string, NetworkPolicy[]>();
  const add = (bundle: string, o: Obj) => {
    if (o.kind !== 'NetworkPolicy') return;
    const list = out.get(bundle) ?? [];
    list.push({ metadata: { name: o.metadata.name, namespace: o.metadata.namespace ?? 'llm' }, spec: o.spec });
    out.set(bundle, list);
  };
  for (const f of files) {
    const m = /^bundles\/([^/]+)\/(.+\.yaml)$/.exec(f.path);
    // templates/ holds Helm templates (the ServiceMonitors), no policies.
    if (!m || m[2] === 'fleet.yaml' || m[2]!.startsWith('templates/')) continue;
    for (const o of docs(f.content)) add(m[1]!, o);
  }
  // Open WebUI's come through the chart's extraResources (rendered into the release namespace, llm).
  for (const o of (openwebuiValuesOf(files)?.extraResources ?? []) as Obj[]) add('openwebui', o);
  return out;
}

const nsLabels = (name: string, extra: Record<string, string> = {}) => ({ 'kubernetes.io/metadata.name': name, ...extra });

/** The pods and addresses of one cluster, with the labels and ports their owners give them. */
function endpoints(bundles: string[], sharedCache = false): Endpoint[] {
  const has = (b: string) => bundles.includes(b);
  const out: Endpoint[] = [
    { name: 'coredns', ip: '10.0.0.10', pod: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }] } },
    { name: 'stranger', ip: '10.0.0.20', pod: { namespace: 'default', labels: { app: 'stranger' } } },
    { name: 'llm-stranger', ip: '10.0.0.21', pod: { namespace: 'llm', labels: { app: 'debug' } } },
    { name: 'internet', ip: '93.184.216.34' },
    { name: 'private', ip: '10.200.1.2' },
    // A Prometheus in a namespace labelled as spec.apps.monitoring.scrapeNamespaceLabels says, and one in a namespace without.
    { name: 'prometheus', ip: '10.0.3.1', pod: { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } } },
    { name: 'prometheus-unlabelled', ip: '10.0.3.2', pod: { namespace: 'observability', labels: { 'app.kubernetes.io/name': 'prometheus' } } },
  ];
  if (has('knative-serving')) {
    out.push(
      { name: 'kourier', ip: '10.0.1.1', pod: { namespace: 'knative-serving', labels: { app: '3scale-kourier-gateway' }, ports: [{ name: 'http2-external', containerPort: 8080 }, { name: 'http2-internal', containerPort: 8081 }] } },
      { name: 'activator', ip: '10.0.1.2', pod: { namespace: 'knative-serving', labels: { app: 'activator', role: 'activator' }, ports: [{ name: 'http1', containerPort: 8012 }] } },
      { name: 'kn-autoscaler', ip: '10.0.1.3', pod: { namespace: 'knative-serving', labels: { app: 'autoscaler' } } },
    );
  }
  if (has('openwebui')) {
    out.push({ name: 'openwebui', ip: '10.0.2.1', pod: { namespace: 'llm', labels: { 'app.kubernetes.io/instance': 'open-webui', 'app.kubernetes.io/component': 'open-webui', 'app.kubernetes.io/name': 'open-webui' }, ports: [{ name: 'http', containerPort: 8080 }] } });
  }
  if (has('litellm')) {
    out.push({ name: 'litellm', ip: '10.0.2.2', pod: { namespace: 'llm', labels: { 'app.kubernetes.io/name': 'litellm', 'app.kubernetes.io/part-of': 'llmstack' }, ports: [{ name: 'http', containerPort: 4000 }] } });
  }
  if (has('ollama')) {
    // Knative copies the template's labels to the revision pods and adds its own.
    out.push({
      name: 'ollama',
      ip: '10.0.2.3',
      pod: {
        namespace: 'llm',
        labels: { 'app.kubernetes.io/name': 'ollama', 'serving.knative.dev/service': 'ollama', 'serving.knative.dev/revision': 'ollama-00001' },
        ports: [{ name: 'user-port', containerPort: 11434 }, { name: 'queue-port', containerPort: 8012 }, { name: 'http-autometric', containerPort: 9090 }, { name: 'http-usermetric', containerPort: 9091 }, { name: 'http-queueadm', containerPort: 8022 }],
      },
    });
  }
  if (has('ollama') && sharedCache) {
    // The Job controller adds its own labels (batch.kubernetes.io/job-name, controller-uid) to the template's.
    out.push({ name: 'ollama-models', ip: '10.0.2.4', pod: { namespace: 'llm', labels: { 'app.kubernetes.io/name': 'ollama-models', 'app.kubernetes.io/part-of': 'llmstack', 'batch.kubernetes.io/job-name': 'ollama-models-x' } } });
  }
  return out;
}

const WORLD_NAMESPACES: World['namespaces'] = {
  llm: nsLabels('llm'),
  'knative-serving': nsLabels('knative-serving'),
  'kube-system': nsLabels('kube-system'),
  default: nsLabels('default'),
  monitoring: nsLabels('monitoring', { 'llmstack.dev/scrape-metrics': 'true' }),
  observability: nsLabels('observability'),
};

const PROBES: [number, string][] = [[53, 'UDP'], [53, 'TCP'], [80, 'TCP'], [443, 'TCP'], [4000, 'TCP'], [8012, 'TCP'], [8013, 'TCP'], [8022, 'TCP'], [8080, 'TCP'], [8081, 'TCP'], [9090, 'TCP'], [9091, 'TCP'], [11434, 'TCP']];

/** Exactly what the stack needs, for the endpoints present. */
function neededFlows(names: Set<string>, hostedModels: boolean, litellmIngress: boolean, metrics = true): string[] {
  const flows: string[] = [];
  const add = (from: string, to: string, port: number, proto = 'TCP') => {
    if (names.has(from) && names.has(to)) flows.push(`${from} -> ${to}:${port}/${proto}`);
  };
  // Users reach Open WebUI from anywhere outside namespace llm.
  const outside = ['internet', 'private', 'stranger', 'coredns', 'kourier', 'activator', 'kn-autoscaler', 'prometheus', 'prometheus-unlabelled'];
  for (const src of outside) add(src, 'openwebui', 8080);
  // An Ingress for LiteLLM opens its port to whatever runs the ingress controller.
  if (litellmIngress) for (const src of outside) add(src, 'litellm', 4000);
  add('openwebui', 'litellm', 4000);
  // Prometheus scrapes LiteLLM's /metrics/ on its one port, from a labelled namespace only.
  if (metrics) add('prometheus', 'litellm', 4000);
  // and queue-proxy's request metrics in every Ollama pod
  if (metrics) add('prometheus', 'ollama', 9091);
  add('litellm', 'kourier', 8081);
  for (const src of ['kourier', 'activator']) for (const p of [8012, 8013]) add(src, 'ollama', p);
  add('kn-autoscaler', 'ollama', 9090);
  add('ollama', 'internet', 443);
  add('ollama-models', 'internet', 443);
  if (hostedModels) add('litellm', 'internet', 443);
  for (const src of ['openwebui', 'litellm', 'ollama', 'ollama-models', 'llm-stranger']) for (const proto of ['UDP', 'TCP']) add(src, 'coredns', 53, proto);
  return flows.sort();
}

function allowedFlows(world: World, eps: Endpoint[]): string[] {
  const out: string[] = [];
  for (const a of eps) {
    for (const b of eps) {
      if (a === b) continue;
      // Connections touching no pod of namespace llm are outside llmstack's policies: Knative's own
      // components, DNS, the rest of the cluster keep whatever they had.
      if (a.pod?.namespace !== 'llm' && b.pod?.namespace !== 'llm') continue;
      for (const [port, proto] of PROBES) if (allowed(world, a, b, port, proto)) out.push(`${a.name} -> ${b.name}:${port}/${proto}`);
    }
  }
  return out.sort();
}

describe('the NetworkPolicy evaluator', () => {
  const pod = (namespace: string, labels: Record<string, string>, ip: string, ports?: { name?: string; containerPort: number }[]): Endpoint => ({ name: ip, ip, pod: { namespace, labels, ports } });
  const a = pod('x', { app: 'a' }, '10.1.0.1');
  const b = pod('x', { app: 'b' }, '10.1.0.2', [{ name: 'web', containerPort: 8080 }]);
  const c = pod('y', { app: 'a' }, '10.1.0.3');
  const np = (name: string, spec: NetworkPolicy['spec'], namespace = 'x'): NetworkPolicy => ({ metadata: { name, namespace }, spec });
  const world = (...policies: NetworkPolicy[]): World => ({ namespaces: { x: nsLabels('x'), y: nsLabels('y', { team: 'y' }) }, policies });

  it('allows everything without policies and isolates only the selected pods, per direction', () => {
    expect(allowed(world(), a, b, 80)).toBe(true);
    const denyIngressB = np('d', { podSelector: { matchLabels: { app: 'b' } } });
    expect(allowed(world(denyIngressB), a, b, 80)).toBe(false);
    expect(allowed(world(denyIngressB), b, a, 80)).toBe(true);
    // policyTypes defaults to Ingress only, plus Egress when there are egress rules
    const egressRules = np('e', { podSelector: {}, egress: [{ to: [{ podSelector: { matchLabels: { app: 'b' } } }] }] });
    expect(allowed(world(egressRules), a, b, 80)).toBe(false); // b is now isolated for ingress too, with no ingress rules
    expect(allowed(world(egressRules), a, c, 80)).toBe(false);
  });

  it('takes the union of the rules of every policy selecting a pod', () => {
    const only80 = np('p80', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ ports: [{ port: 80 }] }] });
    const only90 = np('p90', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ ports: [{ port: 90 }] }] });
    expect([80, 90, 100].map((p) => allowed(world(only80, only90), a, b, p))).toEqual([true, true, false]);
  });

  it('reads namespaceSelector and podSelector in one peer as AND, two peers as OR', () => {
    const and = np('and', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } }, podSelector: { matchLabels: { app: 'z' } } }] }] });
    expect(allowed(world(and), c, b, 80)).toBe(false);
    const or = np('or', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } } }, { podSelector: { matchLabels: { app: 'z' } } }] }] });
    expect(allowed(world(or), c, b, 80)).toBe(true);
    // a bare podSelector means pods of the policy's own namespace
    const same = np('same', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }] }] });
    expect([allowed(world(same), a, b, 80), allowed(world(same), c, b, 80)]).toEqual([true, false]);
  });

  it('matches ipBlock minus except, port ranges, named ports and protocols', () => {
    const out = (cidr: string, except?: string[]) => np('o', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr, except } }] }] });
    const ext: Endpoint = { name: 'ext', ip: '93.184.216.34' };
    const priv: Endpoint = { name: 'priv', ip: '10.9.9.9' };
    expect([allowed(world(out('0.0.0.0/0', ['10.0.0.0/8'])), a, ext, 443), allowed(world(out('0.0.0.0/0', ['10.0.0.0/8'])), a, priv, 443)]).toEqual([true, false]);
    expect(inCidr('192.168.1.1', '192.168.0.0/16')).toBe(true);
    const range = np('r', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ ports: [{ port: 8000, endPort: 8100 }] }] });
    expect([7999, 8000, 8100, 8101].map((p) => allowed(world(range), a, b, p))).toEqual([false, true, true, false]);
    const named = np('n', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ ports: [{ port: 'web' }] }] });
    expect([allowed(world(named), a, b, 8080), allowed(world(named), a, b, 80)]).toEqual([true, false]);
    const udp = np('u', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ ports: [{ protocol: 'UDP', port: 53 }] }] });
    expect([allowed(world(udp), a, b, 53, 'UDP'), allowed(world(udp), a, b, 53, 'TCP')]).toEqual([true, false]);
  });

  it('evaluates matchExpressions', () => {
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b'] }] }, { app: 'b' })).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['a'] }] }, { app: 'a' })).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, {})).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, {})).toBe(true);
  });
});

describe('rendered NetworkPolicies', () => {
  for (const file of exampleCases) {
    it(`${file}: every cluster allows exactly the flows the stack needs`, () => {
      const stack = exampleFor(file, 'v1beta2', catalog);
      const byBundle = policiesByBundle(stack);
      const { files, clusterBundles } = renderStack(stack, catalog);
      const hosted = litellmModels(stack.spec.apps).some((m) => !m.model.startsWith('ollama') && !m.apiBase);
      expect(clusterBundles.size).toBeGreaterThan(0);
      for (const [cluster, bundles] of clusterBundles) {
        // What Fleet deploys to this cluster: a per-cluster overlay replaces LiteLLM's or Ollama's file.
        const [ns, name] = cluster.split('/') as [string, string];
        const labels = renderedClusterLabels(files, ns, name);
        // (Open WebUI's come from its Helm values, which policiesByBundle reads.)
        const policies = bundles.flatMap((b) =>
          b !== 'litellm' && b !== 'ollama' ? (byBundle.get(b) ?? []) : [...(deployedBundle(files, `bundles/${b}`, labels)?.files.values() ?? [])]
            .flat()
            .filter((o) => o.kind === 'NetworkPolicy')
            .map((o) => ({ metadata: { name: (o.metadata as { name: string }).name, namespace: (o.metadata as { namespace?: string }).namespace ?? 'llm' }, spec: o.spec as NetworkPolicy['spec'] })),
        );
        // A gateway (LiteLLM without Ollama) reaches the model clusters' endpoints on 443.
        const spec = stack.spec.clusters.find((c) => (c.namespace ?? stack.spec.capi.namespace) === ns && c.name === name)!;
        const remote = spec.apps.includes('litellm') && !spec.apps.includes('ollama') && ollamaServers(stack).length > 0;
        // Only namespace llm is policed: Knative, DNS and the platform bundles are left as they are.
        expect(new Set(policies.map((p) => p.metadata.namespace))).toEqual(new Set(['llm']));
        expect(policies.map((p) => p.metadata.name)).toContain('default-deny');
        const eps = endpoints(bundles, stack.spec.apps.ollama.cache.mode === 'shared');
        const world: World = {
          namespaces: WORLD_NAMESPACES,
          policies,
        };
        const names = new Set(eps.map((e) => e.name));
        // An endpoint's host may resolve anywhere (a public or a private load balancer): 443, any destination.
        const toEndpoints = remote ? ['coredns', 'internet', 'private', 'stranger', 'prometheus', 'prometheus-unlabelled'].filter((t) => names.has(t)).map((t) => `litellm -> ${t}:443/TCP`) : [];
        const needed = [...new Set([...neededFlows(names, hosted, !!stack.spec.apps.litellm.ingress, stack.spec.apps.monitoring.metrics), ...toEndpoints])].sort();
        expect({ cluster, allowed: allowedFlows(world, eps) }).toEqual({ cluster, allowed: needed });
      }
    });
  }

  it('lets LiteLLM reach a hosted provider on 443 only when the spec names one, and an apiBase on its port', () => {
    const spec = (models: string) =>
      parseSpec(
        `apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: p}\nspec:\n  clusters: [{name: a, class: docker-llm, apps: [ollama, litellm]}]\n  apps:\n    litellm:\n      models:\n${models}`,
        't.yaml',
        catalog,
      );
    const litellm = (s: Stack) => policiesByBundle(s).get('litellm')!.find((p) => p.metadata.name === 'litellm')!;
    const ext: Endpoint = { name: 'internet', ip: '93.184.216.34' };
    const lite = endpoints(['litellm']).find((e) => e.name === 'litellm')!;
    const w = (s: Stack): World => ({ namespaces: { llm: nsLabels('llm') }, policies: [litellm(s)] });
    const local = spec('        - {name: q, model: ollama/qwen2.5:0.5b}\n');
    expect(allowed(w(local), lite, ext, 443)).toBe(false);
    const custom = spec('        - {name: v, model: openai/local, apiBase: "http://vllm.example.test:8000/v1"}\n');
    expect([allowed(w(custom), lite, ext, 8000), allowed(w(custom), lite, ext, 443)]).toEqual([true, false]);
  });

  it('lets Prometheus scrape LiteLLM from the namespaces spec.apps.monitoring labels, and only there', () => {
    const spec = (monitoring: string) =>
      parseSpec(
        `apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: p}\nspec:\n  clusters: [{name: a, class: docker-llm}]\n  apps:\n    monitoring: ${monitoring}\n`,
        't.yaml',
        catalog,
      );
    const eps = endpoints(['litellm', 'ollama', 'openwebui', 'knative-serving']);
    const ep = (n: string) => eps.find((e) => e.name === n)!;
    const w = (s: Stack): World => ({ namespaces: WORLD_NAMESPACES, policies: [...policiesByBundle(s).values()].flat() });
    const scrapes = (s: Stack) => ['prometheus', 'prometheus-unlabelled', 'stranger'].map((from) => allowed(w(s), ep(from), ep('litellm'), 4000));
    // GIVEN the default labels: the namespace labelled llmstack.dev/scrape-metrics=true, as for the controller
    expect(scrapes(spec('{}'))).toEqual([true, false, false]);
    // and Ollama's queue-proxy request metrics, never its serving port, which is Knative's alone
    expect(['prometheus', 'stranger'].map((from) => allowed(w(spec('{}')), ep(from), ep('ollama'), 9091))).toEqual([true, false]);
    expect(allowed(w(spec('{}')), ep('prometheus'), ep('ollama'), 8012)).toBe(false);
    // WHEN the spec names another namespace THEN that one scrapes, the labelled one no longer
    expect(scrapes(spec('{scrapeNamespaceLabels: {kubernetes.io/metadata.name: observability}}'))).toEqual([false, true, false]);
    // WHEN LiteLLM serves no metrics THEN nobody gets in for them
    expect(scrapes(spec('{metrics: false, serviceMonitors: never}'))).toEqual([false, false, false]);
    expect(allowed(w(spec('{metrics: false}')), ep('prometheus'), ep('ollama'), 9091)).toBe(false);
  });

  it('needs its default deny: without it anyone reaches a stray pod in llm', () => {
    const stack = exampleFor('quickstart.yaml', 'v1beta2', catalog);
    const policies = [...policiesByBundle(stack).values()].flat();
    const stray = endpoints([]).find((e) => e.name === 'llm-stranger')!;
    const ext: Endpoint = { name: 'internet', ip: '93.184.216.34' };
    const w = (ps: NetworkPolicy[]): World => ({ namespaces: { llm: nsLabels('llm') }, policies: ps });
    expect(allowed(w(policies), ext, stray, 8080)).toBe(false);
    expect(allowed(w(policies.filter((p) => p.metadata.name !== 'default-deny')), ext, stray, 8080)).toBe(true);
    // (its egress half is also implied by allow-dns, which isolates every pod of llm for egress)
  });

  it("lets each cluster's autoscaler reach DNS and API servers, and nothing reach it", () => {
    const stack = exampleFor('quickstart.yaml', 'v1beta2', catalog);
    const file = renderStack(stack, catalog).files.find((f) => f.path.endsWith('/autoscaler.yaml'))!;
    const policies = docs(file.content)
      .filter((o) => o.kind === 'NetworkPolicy')
      .map((o) => ({ metadata: { name: o.metadata.name, namespace: o.metadata.namespace! }, spec: o.spec }));
    const deployment = docs(file.content).find((o) => o.kind === 'Deployment')!;
    const ns = deployment.metadata.namespace!;
    const scaler: Endpoint = { name: 'autoscaler', ip: '10.0.3.1', pod: { namespace: ns, labels: deployment.spec.template.metadata.labels, ports: [{ name: 'http', containerPort: 8085 }] } };
    const neighbour: Endpoint = { name: 'neighbour', ip: '10.0.3.2', pod: { namespace: ns, labels: { app: 'capi-something' } } };
    const dns = endpoints([]).find((e) => e.name === 'coredns')!;
    const apiserver: Endpoint = { name: 'apiserver', ip: '172.18.0.3' };
    const w: World = { namespaces: { [ns]: nsLabels(ns), 'kube-system': nsLabels('kube-system') }, policies };
    expect(policies).toHaveLength(1);
    expect([allowed(w, scaler, apiserver, 6443), allowed(w, scaler, apiserver, 443), allowed(w, scaler, dns, 53, 'UDP')]).toEqual([true, true, true]);
    expect([allowed(w, scaler, apiserver, 80), allowed(w, neighbour, scaler, 8085), allowed(w, apiserver, scaler, 8085)]).toEqual([false, false, false]);
    // the policy selects the autoscaler only: its neighbours keep what they had
    expect(allowed(w, apiserver, neighbour, 8080)).toBe(true);
  });

  it('renders no NetworkPolicy when spec.apps.networkPolicies is false', () => {
    const s = exampleFor('quickstart.yaml', 'v1beta2', catalog);
    s.spec.apps.networkPolicies = false;
    expect([...policiesByBundle(s).values()].flat()).toEqual([]);
    const { files } = renderStack(s, catalog);
    expect(openwebuiValuesOf(files)!.extraResources.map((o: Obj) => o.kind)).toEqual(['PodDisruptionBudget']);
    expect(files.some((f) => f.path === 'bundles/llm-namespace/namespace.yaml')).toBe(true);
    expect(files.filter((f) => f.path.endsWith('/autoscaler.yaml')).flatMap((f) => docs(f.content)).some((o) => o.kind === 'NetworkPolicy')).toBe(false);
  });
});
