// The litellm bundle's ServiceMonitor template, rendered by the real Helm against a real API server
// as Fleet's agent renders it (Capabilities from the cluster's discovery): nothing on a cluster
// without the Prometheus Operator's CRD; once the CRD (prometheus-operator, the version
// scripts/testbin-versions.env pins, read from the Go module cache) is installed, one ServiceMonitor
// that the API server accepts and that selects the rendered Service by a port it has. The
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
  const version = pinnedVersion('PROMETHEUS_OPERATOR_VERSION');
  const { stdout } = await execFileP('go', ['mod', 'download', '-json', `github.com/prometheus-operator/prometheus-operator@${version}`], { timeout: 600_000, maxBuffer: 1 << 24 });
  const dir = (JSON.parse(stdout) as { Dir?: string; Error?: string }).Dir;
  if (!dir) throw new Error(`go mod download of prometheus-operator ${version} gave no Dir: ${stdout}`);
  return path.join(dir, 'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml');
}

interface LitellmBundle {
  where: string;
  templates: Map<string, string>;
  service: KubeObject & { metadata: { labels: Record<string, string> }; spec: { ports: { name: string }[] } };
}

/** What each cluster running LiteLLM gets of the litellm bundle: its templates and its Service. */
function litellmBundles(stack: Stack): LitellmBundle[] {
  const { files } = renderStack(stack, catalog);
  return stack.spec.clusters
    .filter((c) => c.apps.includes('litellm'))
    .map((c) => {
      const ns = clusterNamespace(stack, c);
      const bundle = deployedBundle(files, 'bundles/litellm', renderedClusterLabels(files, ns, c.name))!;
      const service = bundle.files.get('litellm.yaml')!.find((o) => o.kind === 'Service') as unknown as LitellmBundle['service'];
      return { where: `${stack.metadata.name}: ${ns}/${c.name}`, templates: bundle.templates, service };
    });
}

const render = (b: LitellmBundle) => renderBundleTemplates(b.templates, { kubeconfigPath: cp.kubeconfigPath, namespace: renderNamespace });

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
    // A workload cluster of its own: it starts without any CRD, as a fresh cluster does.
    cp = await startSecondControlPlane({ name: 'monitoring', crds: false });
    renderNamespace = await freshNamespace('render', cp.kubeConfig);
    namespace = await freshNamespace('monitoring', cp.kubeConfig);
  }, 900_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it('renders none on a cluster that does not serve monitoring.coreos.com/v1 ServiceMonitor', async () => {
    for (const file of exampleFiles) {
      for (const b of litellmBundles(exampleFor(file, 'v1beta2', catalog))) {
        expect([...b.templates.keys()], b.where).toStrictEqual([SERVICE_MONITORS_FILE]);
        expect(await render(b), b.where).toStrictEqual([]);
      }
    }
  });

  it('renders one the API server accepts once the CRD is installed, selecting the LiteLLM Service by its port', async () => {
    // GIVEN the Prometheus Operator's CRD on the cluster
    await installCrds(cp.kubeConfig, { crds: loadCrds([await serviceMonitorCrdFile()]) });
    for (const file of exampleFiles) {
      for (const b of litellmBundles(exampleFor(file, 'v1beta2', catalog))) {
        // WHEN Helm renders the template with the cluster's Capabilities
        const objects = await render(b);
        // THEN exactly the LiteLLM ServiceMonitor, which selects the Service and names one of its ports
        expect(objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`), b.where).toStrictEqual([`${SERVICE_MONITOR.apiVersion} ${SERVICE_MONITOR.kind} litellm`]);
        const sm = objects[0] as KubeObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] } };
        for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(b.service.metadata.labels[k], `${b.where}: ${k}`).toBe(v);
        expect(b.service.spec.ports.map((p) => p.name), b.where).toContain(sm.spec.endpoints[0]!.port);
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
    const [never] = litellmBundles(spec('{serviceMonitors: never}'));
    expect(never!.templates.size).toBe(0);
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
