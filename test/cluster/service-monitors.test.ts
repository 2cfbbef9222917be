// The ServiceMonitor templates of the litellm, ollama and knative-serving bundles, rendered by the
// real Helm against a real API server as Fleet's agent renders them (Capabilities from the cluster's
// discovery): nothing on a cluster without the Prometheus Operator's CRD; once the CRD
// (prometheus-operator, the version scripts/testbin-versions.env pins, read from the Go module cache)
// is installed, each bundle's ServiceMonitor, which the API server accepts and which selects its
// Services by a port they have: the rendered LiteLLM Service, Knative Serving's own Services from
// the knative.dev/serving module, the private Service Knative makes for each Ollama revision. The
// controller's own ServiceMonitor (manifests/controller/monitoring) is checked the same way.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { SERVICE_MONITOR, SERVICE_MONITORS_FILE } from '../../src/render/apps/monitoring.js';
import { clusterNamespace } from '../../src/render/cluster.js';
import { renderStack } from '../../src/render/index.js';
import { parseSpec } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/schema.js';
import { describeCluster, freshNamespace, kubeRequest, startSecondControlPlane, type ControlPlane, type KubeObject, type KubeStatus } from '../support/cluster.js';
import { installCrds, loadCrds } from '../support/crds.js';
import { exampleFiles, exampleFor } from '../support/examples.js';
import { deployedBundle, renderedClusterLabels } from '../support/fleet-deploy.js';
import { ensureHelm, renderBundleTemplates } from '../support/helm.js';
import { pinnedVersion, repoRoot } from '../support/paths.js';

const execFileP = promisify(execFile);

let catalog: Catalog;
let cp: ControlPlane;
/** Where Helm renders (its server-side dry run would refuse to adopt objects applied outside a release). */
let renderNamespace: string;
/** Where the rendered ServiceMonitors are applied. */
let namespace: string;

/** The ServiceMonitor CRD of the pinned Prometheus Operator, from its Go module (downloaded once, cached). */
async function serviceMonitorCrdFile(): Promise<string> {
  const dir = await goModuleDir('github.com/prometheus-operator/prometheus-operator', pinnedVersion('PROMETHEUS_OPERATOR_VERSION'));
  return path.join(dir, 'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml');
}

type ServiceLike = { metadata: { name: string; labels?: Record<string, string> }; spec: { ports: { name?: string }[] } };

interface BundleCase {
  where: string;
  bundle: string;
  templates: Map<string, string>;
  /** The Services its ServiceMonitors are meant to select, as the cluster will have them. */
  targets: ServiceLike[];
}

/** A module of the Go module proxy, downloaded once into the module cache. */
async function goModuleDir(module: string, version: string): Promise<string> {
  const { stdout } = await execFileP('go', ['mod', 'download', '-json', `${module}@${version}`], { timeout: 600_000, maxBuffer: 1 << 24 });
  const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (!dir) throw new Error(`go mod download ${module}@${version} gave no Dir: ${stdout}`);
  return dir;
}

/** Knative Serving's own Services (activator, autoscaler, controller, webhook) at the pinned release. */
let knativeServices: ServiceLike[];
/** The port name Knative gives queue-proxy's request metrics on a revision's private Service. */
let userMetricsPort: string;

async function loadKnative(): Promise<void> {
  const dir = await goModuleDir('knative.dev/serving', pinnedVersion('KNATIVE_SERVING_VERSION'));
  knativeServices = ['activator', 'autoscaler', 'controller', 'webhook'].flatMap((f) =>
    parseAllDocuments(readFileSync(path.join(dir, 'config/core/deployments', `${f}.yaml`), 'utf8'))
      .map((d) => d.toJS() as (ServiceLike & { kind: string }) | null)
      .filter((o): o is ServiceLike & { kind: string } => o?.kind === 'Service'),
  );
  const m = /UserQueueMetricsPortName\s*=\s*"([^"]+)"/.exec(readFileSync(path.join(dir, 'pkg/apis/serving/v1/revision_helpers.go'), 'utf8'));
  if (!m) throw new Error('UserQueueMetricsPortName not found in knative.dev/serving');
  userMetricsPort = m[1]!;
}

/** Every bundle with templates that each cluster of `stack` gets, with what its ServiceMonitors should select. */
function bundleCases(stack: Stack): BundleCase[] {
  const { files, clusterBundles } = renderStack(stack, catalog);
  const out: BundleCase[] = [];
  for (const c of stack.spec.clusters) {
    const ns = clusterNamespace(stack, c);
    const labels = renderedClusterLabels(files, ns, c.name);
    for (const b of clusterBundles.get(`${ns}/${c.name}`) ?? []) {
      const d = deployedBundle(files, `bundles/${b}`, labels)!;
      if (d.templates.size === 0) continue;
      let targets: ServiceLike[] = [];
      if (b === 'litellm') targets = d.files.get('litellm.yaml')!.filter((o) => o.kind === 'Service') as unknown as ServiceLike[];
      if (b === 'knative-serving') targets = knativeServices;
      if (b === 'ollama') {
        // Knative makes <revision>-private for each revision of the rendered Service, labelled with
        // the Service's name and networking.internal.knative.dev/serviceType=Private
        // (pkg/reconciler/serverlessservice/resources/services.go MakePrivateService).
        const ksvc = [...d.files.values()].flat().find((o) => o.kind === 'Service' && String(o.apiVersion).startsWith('serving.knative.dev/')) as { metadata: { name: string } };
        targets = [{ metadata: { name: `${ksvc.metadata.name}-00001-private`, labels: { 'serving.knative.dev/service': ksvc.metadata.name, 'networking.internal.knative.dev/serviceType': 'Private' } }, spec: { ports: [{ name: 'http' }, { name: userMetricsPort }] } }];
      }
      out.push({ where: `${stack.metadata.name}: ${ns}/${c.name} ${b}`, bundle: b, templates: d.templates, targets });
    }
  }
  return out;
}

const litellmBundles = (stack: Stack) => bundleCases(stack).filter((b) => b.bundle === 'litellm');

const render = (b: BundleCase) => renderBundleTemplates(b.templates, { kubeconfigPath: cp.kubeconfigPath, namespace: renderNamespace });

async function apply(obj: KubeObject): Promise<{ status: number; body: KubeObject & KubeStatus }> {
  const res = await kubeRequest<KubeObject & KubeStatus>(cp.kubeConfig, 'PATCH', `/apis/${SERVICE_MONITOR.apiVersion}/namespaces/${namespace}/servicemonitors/${obj.metadata.name}`, {
    body: { ...obj, metadata: { ...obj.metadata, namespace } },
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: 'llmstack-test', force: true },
  });
  return res;
}

describeCluster('ServiceMonitors where the Prometheus Operator runs', () => {
  beforeAll(async () => {
    catalog = await loadCatalog();
    await ensureHelm();
    await loadKnative();
    // A workload cluster of its own: it starts without any CRD, as a fresh cluster does.
    cp = await startSecondControlPlane({ name: 'monitoring', crds: false });
    renderNamespace = await freshNamespace('render', cp.kubeConfig);
    namespace = await freshNamespace('monitoring', cp.kubeConfig);
  }, 900_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it('renders none on a cluster that does not serve monitoring.coreos.com/v1 ServiceMonitor', async () => {
    const seen = new Set<string>();
    for (const file of exampleFiles) {
      for (const b of bundleCases(exampleFor(file, 'v1beta2', catalog))) {
        seen.add(b.bundle);
        expect([...b.templates.keys()], b.where).toStrictEqual([SERVICE_MONITORS_FILE]);
        expect(await render(b), b.where).toStrictEqual([]);
      }
    }
    expect([...seen].sort()).toStrictEqual(['knative-serving', 'litellm', 'ollama']);
  });

  it('renders ones the API server accepts once the CRD is installed, each selecting its Services by a port they have', async () => {
    // GIVEN the Prometheus Operator's CRD on the cluster
    await installCrds(cp.kubeConfig, { crds: loadCrds([await serviceMonitorCrdFile()]) });
    for (const file of exampleFiles) {
      for (const b of bundleCases(exampleFor(file, 'v1beta2', catalog))) {
        // WHEN Helm renders the template with the cluster's Capabilities
        const objects = await render(b);
        // THEN exactly the bundle's ServiceMonitor, which selects every Service meant and names a port of each
        expect(objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`), b.where).toStrictEqual([`${SERVICE_MONITOR.apiVersion} ${SERVICE_MONITOR.kind} ${b.bundle}`]);
        const sm = objects[0] as KubeObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] } };
        expect(b.targets.length, b.where).toBeGreaterThan(0);
        for (const t of b.targets) {
          for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(t.metadata.labels?.[k], `${b.where}: ${t.metadata.name} ${k}`).toBe(v);
          expect(t.spec.ports.map((p) => p.name), `${b.where}: ${t.metadata.name}`).toContain(sm.spec.endpoints[0]!.port);
        }
        // AND the API server, validating against the operator's schema, takes it
        const res = await apply(sm);
        expect([200, 201], `${b.where}: ${res.status} ${res.body.message}`).toContain(res.status);
        expect((res.body as unknown as { spec: unknown }).spec).toMatchObject(sm.spec);
      }
    }
  });

  it('keeps the labels the spec gives for a serviceMonitorSelector, and none with serviceMonitors never', async () => {
    const spec = (monitoring: string) =>
      parseSpec(`apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: sm}\nspec:\n  clusters: [{name: a, class: docker-llm}]\n  apps:\n    monitoring: ${monitoring}\n`, 'sm.yaml', catalog);
    const [labelled] = litellmBundles(spec('{serviceMonitorLabels: {release: kube-prometheus-stack}}'));
    const [sm] = await render(labelled!);
    expect(sm!.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(bundleCases(spec('{serviceMonitors: never}'))).toStrictEqual([]);
  });

  it("accepts the controller's ServiceMonitor (manifests/controller/monitoring), which selects its metrics Service", async () => {
    const read = (f: string) => parseAllDocuments(readFileSync(path.join(repoRoot, f), 'utf8')).map((d) => d.toJS() as KubeObject & { spec: any });
    const [sm] = read('manifests/controller/monitoring/service-monitor.yaml');
    const service = read('manifests/controller/deployment.yaml').find((o) => o.kind === 'Service')!;
    expect(sm!.metadata.namespace).toBe(service.metadata.namespace);
    for (const [k, v] of Object.entries(sm!.spec.selector.matchLabels as Record<string, string>)) expect((service.metadata.labels as Record<string, string> | undefined)?.[k], k).toBe(v);
    expect(service.spec.ports.map((p: { name: string }) => p.name)).toContain(sm!.spec.endpoints[0].port);
    // The namespaces it may be scraped from are labelled as the workload clusters' default says.
    const [policy] = read('manifests/controller/network-policy.yaml');
    const { spec } = parseSpec('apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: c}\n', 'c.yaml', catalog);
    expect(policy!.spec.ingress[0].from[0].namespaceSelector.matchLabels).toStrictEqual(spec.apps.monitoring.scrapeNamespaceLabels);
    const res = await apply(sm!);
    expect([200, 201], `${res.status} ${res.body.message}`).toContain(res.status);
  });

  it('rejects a ServiceMonitor the operator could not use (the check can fail)', async () => {
    const [b] = litellmBundles(exampleFor('quickstart.yaml', 'v1beta2', catalog));
    const [sm] = await render(b!);
    const broken = structuredClone(sm!) as KubeObject & { spec: { endpoints: Record<string, unknown>[] } };
    broken.spec.endpoints[0]!.scheme = 'ftp';
    const res = await apply(broken);
    expect(res.status).toBe(422);
    expect(res.body.message).toContain('spec.endpoints[0].scheme');
  });
});
