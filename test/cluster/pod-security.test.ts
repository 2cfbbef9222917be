// Pod Security: every pod llmstack makes the cluster run is admitted by the real API server's
// PodSecurity admission in a namespace carrying the labels llmstack renders for namespace llm
// (enforce: restricted), as a server-side dry run of the Pod its owner would create.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import type { RenderedFile } from '../../src/render/index.js';
import { objectsOf } from '../../src/validate/offline.js';
import { describeCluster, kubeRequest, testCluster, type KubeStatus } from '../support/cluster.js';
import { exampleCases, renderExample, SHARED_CACHE_EXAMPLE } from '../support/examples.js';
import { randomSuffix } from '../support/kube.js';
import { repoRoot } from '../support/paths.js';
import { openwebuiValuesOf, podCases, type PodCase } from '../support/pod-templates.js';

let catalog: Catalog;
let namespace: string;
let renderedLabels: Record<string, string>;

const controllerInstall: RenderedFile = {
  path: 'manifests/controller/deployment.yaml',
  content: readFileSync(path.join(repoRoot, 'manifests/controller/deployment.yaml'), 'utf8'),
};

async function createServiceAccount(name: string): Promise<void> {
  const res = await kubeRequest(testCluster().kubeConfig, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } },
  });
  if (res.status !== 201 && res.status !== 409) throw new Error(`ServiceAccount ${name}: ${res.status} ${res.text}`);
}

/** Dry-run create; the answer's status and, when refused, the server's message. */
async function admit(p: PodCase['pod']): Promise<{ status: number; message?: string }> {
  const sa = p.spec.serviceAccountName as string | undefined;
  if (sa) await createServiceAccount(sa);
  const res = await kubeRequest<KubeStatus>(testCluster().kubeConfig, 'POST', `/api/v1/namespaces/${namespace}/pods`, {
    body: p,
    query: { dryRun: 'All', fieldValidation: 'Strict' },
  });
  return { status: res.status, message: res.status === 201 ? undefined : res.body?.message ?? res.text };
}

describeCluster('Pod Security: every rendered pod under the restricted level', () => {
  beforeAll(async () => {
    catalog = await loadCatalog();
    const files = renderExample('quickstart.yaml', 'v1beta2', catalog);
    const ns = objectsOf(files.find((f) => f.path === 'bundles/llm-namespace/namespace.yaml')!).find((o) => o.kind === 'Namespace')!;
    renderedLabels = ns.metadata.labels ?? {};
    namespace = `psa-${randomSuffix()}`;
    const res = await kubeRequest(testCluster().kubeConfig, 'POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { ...renderedLabels, 'llmstack.dev/test': 'true' } } },
    });
    expect(res.status).toBe(201);
    await createServiceAccount('default');
  });

  it('renders namespace llm with enforce: restricted', () => {
    expect(renderedLabels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  for (const file of exampleCases) {
    it(`admits every pod of ${file}`, async () => {
      const cases = podCases(renderExample(file, 'v1beta2', catalog));
      // Every example runs at least one app; each cluster with an autoscaled pool runs its autoscaler.
      expect(cases.length).toBeGreaterThan(1);
      const refused: string[] = [];
      for (const c of cases) {
        const r = await admit(c.pod);
        if (r.status !== 201) refused.push(`${c.source}: ${r.status} ${r.message}`);
      }
      expect(refused).toEqual([]);
    });
  }

  it('admits the controller install (manifests/controller)', async () => {
    const [c] = podCases([controllerInstall]);
    expect(c).toBeDefined();
    expect(await admit(c!.pod)).toEqual({ status: 201, message: undefined });
  });

  it('covers the three apps and the autoscaler of the quickstart', () => {
    const sources = podCases(renderExample('quickstart.yaml', 'v1beta2', catalog)).map((c) => c.source);
    expect(sources).toEqual(
      expect.arrayContaining([
        expect.stringContaining('Knative Service ollama'),
        expect.stringContaining('Deployment litellm'),
        expect.stringContaining('chart open-webui'),
        expect.stringMatching(/autoscaler\.yaml Deployment /),
      ]),
    );
  });

  it('covers the Ollama pod that serves from the shared model cache and the Job that fills it', () => {
    const cases = podCases(renderExample(SHARED_CACHE_EXAMPLE, 'v1beta2', catalog));
    const job = cases.find((c) => /Job ollama-models-[0-9a-f]{10}$/.test(c.source));
    expect(job?.pod.spec.volumes).toEqual(expect.arrayContaining([{ name: 'models', persistentVolumeClaim: { claimName: 'ollama-models' } }]));
    const ollama = cases.find((c) => c.source.includes('Knative Service ollama'));
    expect(ollama?.pod.spec.volumes).toEqual(expect.arrayContaining([{ name: 'models', persistentVolumeClaim: { claimName: 'ollama-models', readOnly: true } }]));
  });

  describe('the check can fail', () => {
    it('refuses the Ollama pod without its securityContext, naming the restricted level', async () => {
      const [ollama] = podCases(renderExample('quickstart.yaml', 'v1beta2', catalog)).filter((c) => c.source.includes('Knative Service ollama'));
      const bare = structuredClone(ollama!.pod);
      delete bare.spec.securityContext;
      for (const c of bare.spec.containers as Record<string, unknown>[]) if (c.name === 'ollama') delete c.securityContext;
      const r = await admit(bare);
      expect(r.status).toBe(403);
      expect(r.message).toContain('violates PodSecurity "restricted:latest"');
      expect(r.message).toContain('runAsNonRoot != true');
    });

    it("refuses Open WebUI when the chart's defaults (no securityContext) are used", async () => {
      const values = openwebuiValuesOf(renderExample('quickstart.yaml', 'v1beta2', catalog))!;
      const { podSecurityContext: _p, containerSecurityContext: _c, ...defaults } = values;
      const { openwebuiPod } = await import('../support/pod-templates.js');
      const r = await admit(openwebuiPod(defaults));
      expect(r.status).toBe(403);
      expect(r.message).toContain('allowPrivilegeEscalation != false');
    });
  });
});
