// Every app bundle of the examples reaches the clusters that asked for it, through the Fleet Cluster
// each import strategy ends with: Rancher 2.15's (from the management Cluster Turtles v0.27.0 makes,
// which copies no label, or from a later Turtles that copies them) and CAAPF v0.14's. The controller
// runs on its own ClusterRole; what Turtles, Rancher and CAAPF write is written by the test
// (test/support/import-sim.ts), and each bundle's rendered targets are matched as Fleet v0.16.1 does.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parseDocument } from 'yaml';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { Controller } from '../../src/controller/controller.js';
import { targetingLabels } from '../../src/controller/targeting.js';
import { getObject, onRequest, type RequestRecord } from '../../src/kube/http.js';
import type { KubeObject } from '../../src/kube/resources.js';
import { applyObject, deleteObject } from '../../src/kube/write.js';
import { bundleClosure } from '../../src/render/bundles.js';
import { clusterNamespace } from '../../src/render/cluster.js';
import { renderGitRepos } from '../../src/render/gitrepos.js';
import { renderStack } from '../../src/render/index.js';
import { parseSpec } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/schema.js';
import { describeCluster, testCluster, waitFor, type RestrictedIdentity } from '../support/cluster.js';
import {
  caapfApplyFleetCluster,
  fleetTargetMatches,
  rancherAccepts,
  rancherFleetClusterLabels,
  rancherSyncFleetCluster,
  turtlesPropagateLabels,
  turtlesRancherCluster,
  type FleetTarget,
} from '../support/import-sim.js';
import { repoRoot } from '../support/paths.js';
import { create, patchLabels, RESOURCES, TEST_RANCHER_CLUSTER } from '../support/upstream.js';

type Variant = 'turtles-v0.27.0' | 'turtles-copies-labels' | 'caapf-v0.14.0';
const VARIANTS: Variant[] = ['turtles-v0.27.0', 'turtles-copies-labels', 'caapf-v0.14.0'];
const EXAMPLES = ['quickstart.yaml', 'three-clusters.yaml'];

let admin: KubeConfig;
let identity: RestrictedIdentity;
let controller: Controller;
let catalog: Catalog;
const forbidden: RequestRecord[] = [];
/** The controller's writes to Rancher clusters and Fleet Clusters. */
const writes: RequestRecord[] = [];

function stackFor(file: string, variant: Variant): Stack {
  const doc = parseDocument(readFileSync(path.join(repoRoot, 'examples', file), 'utf8'));
  doc.setIn(['spec', 'import'], variant === 'caapf-v0.14.0' ? { strategy: 'caapf' } : { strategy: 'rancher', autoImport: true });
  // The GitRepos are rendered only with a URL; they say where Fleet looks for the clusters.
  if (!doc.getIn(['spec', 'git', 'url'])) doc.setIn(['spec', 'git', 'url'], 'http://git.example.test/gitops.git');
  return parseSpec(doc.toString(), `examples/${file}`, catalog);
}

interface Rendered {
  stack: Stack;
  /** bundle -> the targets Fleet gives its Bundle: fleet.yaml's overrideTargets, else the GitRepo's. */
  targets: Map<string, FleetTarget[]>;
  clusters: { spec: Stack['spec']['clusters'][number]; object: KubeObject }[];
  gitRepo: { namespaces: string[]; targets: FleetTarget[] };
}

function render(file: string, variant: Variant): Rendered {
  const stack = stackFor(file, variant);
  const files = renderStack(stack, catalog).files;
  const apps = renderGitRepos(stack).filter((g) => g.metadata.namespace !== 'fleet-local');
  const gitTargets = (apps[0]!.spec as { targets: FleetTarget[] }).targets;
  const targets = new Map<string, FleetTarget[]>();
  for (const f of files) {
    const m = /^bundles\/([^/]+)\/fleet\.yaml$/.exec(f.path);
    if (!m) continue;
    const fy = parseDocument(f.content).toJS() as { overrideTargets?: FleetTarget[] };
    targets.set(m[1]!, fy.overrideTargets ?? gitTargets);
  }
  const clusters = stack.spec.clusters.map((c) => {
    const text = files.find((f) => f.path === `management/clusters/${clusterNamespace(stack, c)}/${c.name}/cluster.yaml`)!.content;
    const object = parseAllDocuments(text)
      .map((d) => d.toJS() as KubeObject)
      .find((o) => o.kind === 'Cluster' && o.apiVersion.startsWith('cluster.x-k8s.io/'))!;
    return { spec: c, object };
  });
  return { stack, targets, clusters, gitRepo: { namespaces: apps.map((g) => g.metadata.namespace!), targets: gitTargets } };
}

/** The bundles whose targets select a Fleet Cluster of this name and labels, as Fleet v0.16.1 matches. */
function selected(r: Rendered, fleetName: string, labels: Record<string, string>): string[] {
  return [...r.targets].filter(([, ts]) => ts.some((t) => fleetTargetMatches(t, fleetName, labels))).map(([b]) => b).sort();
}

const rancherName = () => `c-${Math.random().toString(36).slice(2, 7).padEnd(5, '0')}`;

describeCluster('bundle targeting of imported clusters', () => {
  beforeAll(async () => {
    catalog = await loadCatalog();
    admin = testCluster().kubeConfig;
    const docs = parseAllDocuments(readFileSync(path.join(repoRoot, 'manifests/controller/rbac.yaml'), 'utf8')).map((d) => d.toJS() as KubeObject);
    await applyObject(admin, docs.find((d) => d.kind === 'ClusterRole')!, 'llmstack-test');
    identity = await testCluster().restrictedIdentity('llmstack-controller');
    onRequest(identity.kubeConfig, (r) => {
      if (r.code === 403) forbidden.push(r);
      if (r.verb === 'patch' && /\/apis\/(management|fleet)\.cattle\.io\//.test(r.path)) writes.push(r);
    });
    await create(admin, RESOURCES.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fleet-default' } }).catch(() => undefined);
    controller = new Controller({ kubeConfig: identity.kubeConfig, autoscalerPollMs: 60_000, log: () => undefined });
    await controller.start();
  });

  afterAll(async () => {
    await controller?.stop();
  });

  for (const file of EXAMPLES) {
    describe(file, () => {
      for (const variant of VARIANTS) {
        it(`${variant}: every app bundle selects exactly the clusters that asked for it, also after one is dropped`, async () => {
          const r = render(file, variant);
          const ns = await testCluster().freshNamespace('targeting');
          const fleets: { capi: KubeObject; fleetName: string; fleetNs: string; rn?: string; expected: string[] }[] = [];
          for (const { spec, object } of r.clusters) {
            const capi = structuredClone(object);
            capi.metadata.namespace = ns;
            await create(admin, RESOURCES.capiCluster, capi);
            const expected = bundleClosure(spec, catalog);
            expect(expected.length).toBeGreaterThan(0);
            if (variant === 'caapf-v0.14.0') {
              // CAAPF keeps the Fleet Cluster in the cluster's namespace, where the apps GitRepo is.
              expect(r.gitRepo.namespaces).toContain(clusterNamespace(r.stack, spec));
              const fc = await caapfApplyFleetCluster(admin, capi);
              expect(selected(r, fc.metadata.name, fc.metadata.labels ?? {}), `${spec.name}`).toStrictEqual(expected);
              fleets.push({ capi, fleetName: fc.metadata.name, fleetNs: ns, expected });
              continue;
            }
            expect(r.gitRepo.namespaces).toStrictEqual(['fleet-default']);
            const rn = rancherName();
            const mgmt = turtlesRancherCluster(capi, rn, { copyLabels: variant === 'turtles-copies-labels' });
            // What Rancher alone would make of Turtles' object: on v0.27.0 a Fleet Cluster no app bundle selects.
            const alone = selected(r, rn, rancherFleetClusterLabels(mgmt));
            expect(alone, `${spec.name} without the controller`).toStrictEqual(variant === 'turtles-v0.27.0' ? [] : expected);
            await create(admin, TEST_RANCHER_CLUSTER, mgmt);
            await rancherAccepts(admin, ns, rn);
            const want = targetingLabels(capi);
            await waitFor(async () => {
              const live = (await getObject(admin, TEST_RANCHER_CLUSTER, ns, rn))?.metadata.labels ?? {};
              return Object.entries(want).every(([k, v]) => live[k] === v);
            }, { message: `targeting labels on Rancher cluster ${rn}` });
            const fc = await rancherSyncFleetCluster(admin, ns, rn);
            expect(fc.metadata.namespace).toBe('fleet-default');
            // The GitRepo's own selector holds too (a bundle's overrideTargets replace it).
            expect(r.gitRepo.targets.some((t) => fleetTargetMatches(t, rn, fc.metadata.labels ?? {}))).toBe(true);
            expect(selected(r, rn, fc.metadata.labels ?? {}), spec.name).toStrictEqual(expected);
            fleets.push({ capi, fleetName: rn, fleetNs: 'fleet-default', rn, expected });
          }

          // WHEN the spec drops an app from the first cluster (its bundle label goes from the CAPI Cluster)
          const first = fleets[0]!;
          const dropped = first.expected.find((b) => ['openwebui', 'litellm', 'ollama'].includes(b))!;
          await patchLabels(admin, RESOURCES.capiCluster, ns, first.capi.metadata.name, { [`bundle.llmstack.dev/${dropped}`]: null });
          const capiNow = (await getObject(admin, RESOURCES.capiCluster, ns, first.capi.metadata.name))!;
          let labels: Record<string, string>;
          if (variant === 'caapf-v0.14.0') {
            labels = (await caapfApplyFleetCluster(admin, capiNow)).metadata.labels ?? {};
          } else {
            // A copying Turtles re-reconciles too: it adds what the CAPI Cluster has and removes nothing.
            if (variant === 'turtles-copies-labels') await turtlesPropagateLabels(admin, capiNow, first.rn!);
            await waitFor(async () => (await getObject(admin, TEST_RANCHER_CLUSTER, ns, first.rn!))?.metadata.labels?.[`bundle.llmstack.dev/${dropped}`] === undefined, {
              message: `bundle.llmstack.dev/${dropped} removed from ${first.rn}`,
            });
            labels = (await rancherSyncFleetCluster(admin, ns, first.rn!)).metadata.labels ?? {};
          }
          // THEN that bundle no longer selects it, and every other one still does
          expect(selected(r, first.fleetName, labels)).toStrictEqual(first.expected.filter((b) => b !== dropped));

          // AND the writers settle: once more round of Turtles and Rancher makes the controller write nothing
          const before = writes.length;
          if (variant === 'turtles-copies-labels') await turtlesPropagateLabels(admin, capiNow, first.rn!);
          if (first.rn) await rancherSyncFleetCluster(admin, ns, first.rn);
          await new Promise((res) => setTimeout(res, 1500));
          expect(writes.slice(before).map((w) => w.path)).toStrictEqual([]);
          if (first.rn) {
            const mgmt = (await getObject(admin, TEST_RANCHER_CLUSTER, ns, first.rn))!;
            const managers = (mgmt.metadata.managedFields as { manager: string; operation: string; fieldsV1?: { 'f:metadata'?: { 'f:labels'?: Record<string, unknown> } } }[]).filter(
              (m) => m.manager === 'llmstack' && m.operation === 'Apply',
            );
            // llmstack's server-side apply owns its own keys only
            expect(managers).toHaveLength(1);
            const owned = managers.flatMap((m) => Object.keys(m.fieldsV1?.['f:metadata']?.['f:labels'] ?? {})).filter((k) => k.startsWith('f:')).map((k) => k.slice(2));
            expect(owned.length).toBeGreaterThan(0);
            expect(owned.filter((k) => !/^([a-z0-9.-]+\.)?llmstack\.dev\//.test(k))).toStrictEqual([]);
          } else {
            // caapf: the controller never writes a Fleet Cluster or labels it for Rancher
            expect(writes.filter((w) => w.path.includes(`/namespaces/${ns}/`))).toStrictEqual([]);
            expect(capiNow.metadata.labels?.['cluster-api.cattle.io/rancher-auto-import']).toBe('false');
          }
        });
      }
    });
  }

  it('an apply carrying the cached resourceVersion never re-creates a Rancher cluster deleted meanwhile', async () => {
    // The controller relies on this to write labels only onto the object Turtles made.
    const ns = await testCluster().freshNamespace('targeting-gone');
    const rn = rancherName();
    const mgmt = turtlesRancherCluster({ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: { name: 'gone', namespace: ns } }, rn);
    mgmt.metadata.finalizers = [];
    const made = await create(admin, TEST_RANCHER_CLUSTER, mgmt);
    await deleteObject(admin, TEST_RANCHER_CLUSTER, ns, rn);
    const body = { apiVersion: 'management.cattle.io/v3', kind: 'Cluster', metadata: { name: rn, namespace: ns, resourceVersion: made.metadata.resourceVersion, labels: { 'llmstack.dev/stack': 'x' } } };
    await expect(applyObject(admin, body, 'llmstack', { resource: TEST_RANCHER_CLUSTER })).rejects.toThrow();
    expect(await getObject(admin, TEST_RANCHER_CLUSTER, ns, rn)).toBeUndefined();
  });

  it('ran on its ClusterRole alone: no request was forbidden', () => {
    expect(forbidden.map((r) => `${r.verb} ${r.path}`)).toStrictEqual([]);
  });
});
