// The NetworkPolicies and PodDisruptionBudgets llmstack renders, including those the Open WebUI chart
// creates from our values (extraResources), pass the real API server's validation (server-side dry run).
import { beforeAll, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { describeCluster, testCluster, type KubeObject } from '../support/cluster.js';
import { exampleCases, renderExample } from '../support/examples.js';
import { openwebuiValuesOf } from '../support/pod-templates.js';

let catalog: Catalog;
let namespace: string;

const KINDS = new Set(['NetworkPolicy', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'Namespace']);

function policyObjects(file: string): KubeObject[] {
  const files = renderExample(file, 'v1beta2', catalog);
  const out: KubeObject[] = [];
  for (const f of files) {
    // (templates/ holds Helm templates, the ServiceMonitors: no policies)
    if (!f.path.startsWith('bundles/') || f.path.endsWith('fleet.yaml') || /^bundles\/[^/]+\/templates\//.test(f.path)) continue;
    for (const d of parseAllDocuments(f.content)) {
      const o = d.toJS() as KubeObject | null;
      if (o && KINDS.has(o.kind)) out.push(o);
    }
  }
  out.push(...((openwebuiValuesOf(files)?.extraResources ?? []) as KubeObject[]));
  // Into the test's namespace: the objects are namespaced to llm by Fleet (or name it themselves).
  return out.filter((o) => o.kind !== 'Namespace').map((o) => ({ ...o, metadata: { ...o.metadata, namespace } }));
}

describeCluster('NetworkPolicies and disruption budgets on a real API server', () => {
  beforeAll(async () => {
    catalog = await loadCatalog();
    namespace = await testCluster().freshNamespace('netpol');
  });

  for (const file of exampleCases) {
    it(`accepts every policy and budget of ${file}`, async () => {
      const objects = policyObjects(file);
      expect(objects.filter((o) => o.kind === 'NetworkPolicy').length).toBeGreaterThan(1);
      expect(objects.some((o) => o.kind === 'PodDisruptionBudget')).toBe(true);
      const results = await testCluster().serverSideDryRun(objects, { namespace });
      expect(results.filter((r) => !r.ok).map((r) => `${r.ref}: ${r.message}`)).toEqual([]);
      expect(results).toHaveLength(objects.length);
    });
  }

  it('rejects a policy whose named port is not a valid port name (the check can fail)', async () => {
    const [policy] = policyObjects('quickstart.yaml').filter((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'litellm');
    const broken = structuredClone(policy!) as KubeObject & { spec: { ingress: { ports: { port: unknown }[] }[] } };
    broken.spec.ingress[0]!.ports[0]!.port = 'Not_A_Port_Name';
    const [r] = await testCluster().serverSideDryRun([broken], { namespace });
    expect(r!.ok).toBe(false);
    expect(r!.message).toContain('spec.ingress[0].ports[0].port');
  });
});
