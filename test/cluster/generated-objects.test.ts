// Every object llmstack generates for every example spec, for both CAPI API versions, sent to the real
// API server as a server-side dry run: CRD structural schemas, CEL rules, defaulting and admission
// judge it, and a failure shows the server's own message.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import type { RenderedFile } from '../../src/render/index.js';
import { objectsOf } from '../../src/validate/offline.js';
import { describeCluster, kubeRequest, testCluster, type KubeObject } from '../support/cluster.js';
import { CAPI_VERSIONS, exampleCases, renderExample } from '../support/examples.js';

let catalog: Catalog;

/** Where each file's objects go: Fleet applies bundle contents into the bundle's namespace. */
function objectsByTarget(files: RenderedFile[]): { objects: KubeObject[]; namespace: string }[] {
  const out: { objects: KubeObject[]; namespace: string }[] = [];
  for (const f of files) {
    const objects = objectsOf(f) as KubeObject[];
    if (objects.length === 0) continue;
    // fleet.yaml files are checked as the Bundle Fleet would create from them.
    const namespace = f.path.endsWith('fleet.yaml') ? 'fleet-default' : f.path.startsWith('bundles/') ? 'llm' : 'default';
    out.push({ objects, namespace });
  }
  return out;
}

async function ensureNamespace(name: string): Promise<void> {
  const res = await kubeRequest(testCluster().kubeConfig, 'POST', '/api/v1/namespaces', {
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
  });
  if (res.status !== 201 && res.status !== 409) throw new Error(`namespace ${name}: ${res.status} ${res.text}`);
}

describeCluster('generated objects on a real API server', () => {
  beforeAll(async () => {
    catalog = await loadCatalog();
  });

  for (const file of exampleCases) {
    for (const version of CAPI_VERSIONS) {
      it(`${file} with CAPI ${version}`, async () => {
        const groups = objectsByTarget(renderExample(file, version, catalog));
        const namespaces = new Set(groups.flatMap((g) => [g.namespace, ...g.objects.map((o) => o.metadata.namespace).filter((n): n is string => !!n)]));
        for (const ns of namespaces) await ensureNamespace(ns);
        const results = (await Promise.all(groups.map((g) => testCluster().serverSideDryRun(g.objects, { namespace: g.namespace })))).flat();
        expect(results.filter((r) => !r.ok).map((r) => `${r.ref}: ${r.message}`)).toEqual([]);
        expect(results.length).toBeGreaterThan(20);
      });
    }
  }

  it('reports the server\'s own message for an object the CRD rejects', async () => {
    await ensureNamespace('llm');
    const files = renderExample('quickstart.yaml', 'v1beta2', catalog);
    const [cluster] = objectsOf(files.find((f) => f.path.endsWith('/cluster.yaml'))!) as KubeObject[];
    const broken = structuredClone(cluster!) as KubeObject & { spec: { topology: { controlPlane: { replicas: unknown } } } };
    broken.spec.topology.controlPlane.replicas = 'one';
    const [result] = await testCluster().serverSideDryRun([broken]);
    expect(result!.ok).toBe(false);
    expect(result!.status).toBe(422);
    expect(result!.message).toContain('spec.topology.controlPlane.replicas: Invalid value: "string": spec.topology.controlPlane.replicas in body must be of type integer: "string"');
  });
});

describeCluster('llmstack validate --server', () => {
  it('accepts the quickstart on the real API server and says how many objects it checked', async () => {
    const { validateCommand } = await import('../../src/cli/validate.js');
    await ensureNamespace('llm');
    const out: string[] = [];
    const code = await validateCommand(
      { spec: 'examples/quickstart.yaml', server: true, kubeconfig: testCluster().kubeconfigPath, crds: undefined },
      (l) => out.push(l),
      () => undefined,
    );
    expect(out.filter((l) => l.startsWith('  '))).toEqual([]);
    expect(out[out.length - 1]).toMatch(/^server: (\d+)\/\1 objects accepted by https:\/\/127\.0\.0\.1:\d+$/);
    expect(code).toBe(0);
  });

  it("its dry run gives the schema's own message for a field of the wrong type, and names an unknown kind", async () => {
    const { loadKubeConfig, serverDryRun } = await import('../../src/kube/client.js');
    await ensureNamespace('llm');
    const kc = await loadKubeConfig(testCluster().kubeconfigPath);
    const files = renderExample('quickstart.yaml', 'v1beta2', catalog ?? (catalog = await loadCatalog()));
    const [cluster] = objectsOf(files.find((f) => f.path.endsWith('/cluster.yaml'))!) as KubeObject[];
    const broken = structuredClone(cluster!) as KubeObject & { spec: { topology: { controlPlane: { replicas: unknown } } } };
    broken.spec.topology.controlPlane.replicas = 'one';
    const unknown = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'llm' } };
    const [bad, missing, good] = await serverDryRun(kc, [broken, unknown, cluster!] as Parameters<typeof serverDryRun>[1]);
    expect(bad).toMatchObject({ ok: false, code: 422, method: 'create' });
    expect(bad!.message).toContain('spec.topology.controlPlane.replicas in body must be of type integer');
    expect(missing).toMatchObject({ ok: false, code: 0, method: 'none', message: 'no matches for kind "Widget" in version "example.com/v1"' });
    expect(good).toMatchObject({ ok: true, method: 'apply' });
  });
});
