// The pure part of bundle targeting: which labels the controller keeps on a Rancher cluster, and the
// Fleet matching the cluster test relies on.
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadCatalog } from '../../src/catalog/load.js';
import { targetingChange, targetingLabels } from '../../src/controller/targeting.js';
import type { KubeObject } from '../../src/kube/resources.js';
import { isLlmstackLabelKey } from '../../src/render/labels.js';
import { renderExample } from '../support/examples.js';
import { fleetTargetMatches, labelSelectorMatches, rancherFleetClusterLabels, turtlesCopiedLabels, turtlesRancherCluster } from '../support/import-sim.js';

const capi = (labels: Record<string, string>): KubeObject => ({ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: { name: 'llm', namespace: 'default', labels } });
const rancher = (labels: Record<string, string>, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'management.cattle.io/v3',
  kind: 'Cluster',
  metadata: { name: 'c-7xk2p', labels, ...extra },
});
const OWNER = { 'cluster-api.cattle.io/capi-cluster-owner': 'llm', 'cluster-api.cattle.io/capi-cluster-owner-ns': 'default', 'cluster-api.cattle.io/owned': '' };

describe('isLlmstackLabelKey', () => {
  it('is llmstack.dev and its subdomains, nothing that only looks like them', () => {
    expect(['llmstack.dev/stack', 'bundle.llmstack.dev/ollama', 'a.b.llmstack.dev/x'].map(isLlmstackLabelKey)).toStrictEqual([true, true, true]);
    expect(['notllmstack.dev/x', 'llmstack.dev.example.com/x', 'llmstack.dev', 'env', 'app.kubernetes.io/managed-by', 'x/llmstack.dev/y'].map(isLlmstackLabelKey)).toStrictEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('targetingChange', () => {
  const wanted = { 'llmstack.dev/stack': 'quickstart', 'llmstack.dev/cluster': 'llm', 'bundle.llmstack.dev/ollama': 'true' };
  const cluster = capi({ ...wanted, env: 'dev', 'cluster-api.cattle.io/rancher-auto-import': 'true' });

  it("asks for the CAPI Cluster's llmstack labels only, on the Rancher cluster Turtles v0.27.0 creates", () => {
    expect(targetingLabels(cluster)).toStrictEqual(wanted);
    expect(targetingChange(cluster, rancher(OWNER))).toStrictEqual({ labels: wanted, stale: [] });
  });

  it('is nothing once they are there, whatever else the Rancher cluster carries', () => {
    expect(targetingChange(cluster, rancher({ ...OWNER, ...wanted, env: 'prod', 'team.example.com/x': 'y' }))).toBeUndefined();
  });

  it('sets a changed value and removes a key the CAPI Cluster dropped, sorted', () => {
    const rc = rancher({ ...OWNER, ...wanted, 'llmstack.dev/stack': 'old', 'bundle.llmstack.dev/openwebui': 'true', 'bundle.llmstack.dev/litellm': 'true' });
    expect(targetingChange(cluster, rc)).toStrictEqual({ labels: wanted, stale: ['bundle.llmstack.dev/litellm', 'bundle.llmstack.dev/openwebui'] });
  });

  it('removes them all from the Rancher cluster of a CAPI Cluster that has none left', () => {
    expect(targetingChange(capi({ env: 'dev' }), rancher({ ...OWNER, ...wanted }))).toStrictEqual({ labels: {}, stale: Object.keys(wanted).sort() });
  });

  it('leaves caapf clusters to CAAPF and Rancher clusters being deleted alone', () => {
    expect(targetingChange(capi({ ...wanted, 'llmstack.dev/import-strategy': 'caapf' }), rancher(OWNER))).toBeUndefined();
    expect(targetingChange(cluster, rancher(OWNER, { deletionTimestamp: '2026-08-01T10:00:00Z' }))).toBeUndefined();
  });
});

describe('the import chain the cluster test simulates', () => {
  it('on Turtles v0.27.0 alone, Rancher gives the quickstart cluster a Fleet Cluster no app bundle selects; with the labels kept, every one', async () => {
    const catalog = await loadCatalog();
    const files = renderExample('quickstart.yaml', 'v1beta2', catalog);
    const cluster = parseAllDocuments(files.find((f) => f.path.endsWith('/cluster.yaml'))!.content)
      .map((d) => d.toJS() as KubeObject)
      .find((o) => o.kind === 'Cluster')!;
    const bundles = files.filter((f) => /^bundles\/[^/]+\/fleet\.yaml$/.test(f.path));
    const targets = bundles.flatMap((f) => (parseAllDocuments(f.content)[0]!.toJS() as { overrideTargets: { clusterSelector: { matchLabels: Record<string, string> } }[] }).overrideTargets);
    // one target per bundle, and the quickstart cluster asks for every bundle
    expect(targets).toHaveLength(bundles.length);
    expect(bundles.length).toBeGreaterThan(3);

    const mgmt = turtlesRancherCluster(cluster, 'c-7xk2p');
    const alone = rancherFleetClusterLabels(mgmt);
    expect(alone).toStrictEqual({ 'management.cattle.io/cluster-name': 'c-7xk2p', 'management.cattle.io/cluster-display-name': 'llm-workload' });
    expect(targets.filter((t) => fleetTargetMatches(t, 'c-7xk2p', alone))).toStrictEqual([]);

    const change = targetingChange(cluster, mgmt)!;
    const kept = rancherFleetClusterLabels({ ...mgmt, metadata: { ...mgmt.metadata, labels: { ...mgmt.metadata.labels, ...change.labels } } });
    expect(targets.filter((t) => fleetTargetMatches(t, 'c-7xk2p', kept))).toHaveLength(bundles.length);
  });

  it('a label-copying Turtles skips keys with cattle.io or x-k8s.io; Rancher drops keys with cattle.io/', () => {
    const c = capi({ 'llmstack.dev/stack': 's', 'cluster-api.cattle.io/rancher-auto-import': 'true', 'topology.cluster.x-k8s.io/owned': '', env: 'dev' });
    expect(turtlesCopiedLabels(c)).toStrictEqual({ 'llmstack.dev/stack': 's', env: 'dev' });
    const labels = rancherFleetClusterLabels(rancher({ ...OWNER, 'llmstack.dev/stack': 's', 'kubectl.kubernetes.io/x': 'y' }));
    // (an empty display name is a valid label value, so Rancher sets that label too)
    expect(labels).toStrictEqual({ 'llmstack.dev/stack': 's', 'management.cattle.io/cluster-name': 'c-7xk2p', 'management.cattle.io/cluster-display-name': '' });
  });

  it('matches label selectors as metav1.LabelSelectorAsSelector and targets as Fleet v0.16.1', () => {
    const l = { a: '1', b: '2' };
    expect(labelSelectorMatches(undefined, l)).toBe(false);
    expect(labelSelectorMatches({}, l)).toBe(true);
    expect(labelSelectorMatches({ matchLabels: { a: '1' }, matchExpressions: [{ key: 'c', operator: 'NotIn', values: ['x'] }, { key: 'z', operator: 'DoesNotExist' }] }, l)).toBe(true);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'b', operator: 'In', values: ['1', '3'] }] }, l)).toBe(false);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'b', operator: 'Exists' }] }, l)).toBe(true);
    expect(fleetTargetMatches({ name: 'no-criteria' }, 'c-1', l)).toBe(false);
    expect(fleetTargetMatches({ clusterName: 'shown', clusterSelector: { matchLabels: { a: '1' } } }, 'c-1', { ...l, 'management.cattle.io/cluster-display-name': 'shown' })).toBe(true);
    expect(fleetTargetMatches({ clusterName: 'c-2', clusterSelector: { matchLabels: { a: '1' } } }, 'c-1', l)).toBe(false);
  });
});
