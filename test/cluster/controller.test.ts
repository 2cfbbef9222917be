// `llmstack controller` on the real test control plane, with a second control plane as the workload
// cluster. It runs with a token bound to the ClusterRole in manifests/controller, so a missing
// permission fails the test. The objects Turtles, Fleet, CAPI and the autoscaler would write are
// written by the test, in their real formats.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { loadCatalog } from '../../src/catalog/load.js';
import { ensureSecrets } from '../../src/cli/secrets.js';
import { renderControllerAccess } from '../../src/render/controller-access.js';
import { renderStack } from '../../src/render/index.js';
import { parseSpec } from '../../src/spec/load.js';
import type { LLMClusterStatus } from '../../src/controller/types.js';
import { getMetadata, getObject, kubeRequest, onRequest, type RequestRecord } from '../../src/kube/http.js';
import type { KubeObject } from '../../src/kube/resources.js';
import { applyObject } from '../../src/kube/write.js';
import { describeCluster, namespaceTracker, startSecondControlPlane, testCluster, waitFor, type ControlPlane, type RestrictedIdentity } from '../support/cluster.js';
import { deployedBundle, renderedClusterLabels } from '../support/fleet-deploy.js';
import { repoRoot } from '../support/paths.js';
import {
  autoscalerStatusText,
  BUNDLES,
  bundleDeployment,
  bundleDeploymentReady,
  capiCluster,
  capiProvisioned,
  create,
  grantControllerAccess,
  grantKubeconfigAccess,
  kubeconfigSecret,
  fleetBundle,
  fleetBundleName,
  fleetCluster,
  gitRepo,
  machineDeployment,
  patchLabels,
  rancherAgentReady,
  rancherCluster,
  RESOURCES,
  TEST_RANCHER_CLUSTER,
  writeStatus,
} from '../support/upstream.js';

const AUTO_IMPORT = 'cluster-api.cattle.io/rancher-auto-import';

let admin: KubeConfig;
let identity: RestrictedIdentity;
let workload: ControlPlane;
let controller: Controller;
let metrics: ControllerMetrics;
const forbidden: RequestRecord[] = [];

/** Applies the controller's ClusterRole from manifests/controller/rbac.yaml as the admin. */
async function installClusterRole(kc: KubeConfig): Promise<void> {
  const docs = parseAllDocuments(readFileSync(path.join(repoRoot, 'manifests/controller/rbac.yaml'), 'utf8')).map((d) => d.toJS() as KubeObject);
  const role = docs.find((d) => d.kind === 'ClusterRole')!;
  await applyObject(kc, role, 'llmstack-test');
}

// This file's namespaces: other files' clusters on the shared API server have no kubeconfig Role for
// this file's controller.
const namespaces = namespaceTracker();
const freshNs = namespaces.fresh;
const ours = namespaces.owns;

/** A Cluster as generate delivers it: the Cluster and its controller-access Role (the controller reads no other kubeconfig). */
async function createCluster(ns: string, name: string, labels: Record<string, string> = {}): Promise<void> {
  await grantKubeconfigAccess(admin, identity.serviceAccount, ns, name);
  await create(admin, RESOURCES.capiCluster, capiCluster(ns, name, labels));
}

async function report(ns: string, name: string): Promise<LLMClusterStatus | undefined> {
  const o = await getObject(admin, RESOURCES.llmCluster, ns, name);
  return o?.status as LLMClusterStatus | undefined;
}

async function label(ns: string, name: string): Promise<string | undefined> {
  return (await getObject(admin, RESOURCES.capiCluster, ns, name))?.metadata.labels?.[AUTO_IMPORT];
}

describeCluster('llmstack controller', () => {
  beforeAll(async () => {
    admin = testCluster().kubeConfig;
    await installClusterRole(admin);
    identity = await testCluster().restrictedIdentity('llmstack-controller');
    onRequest(identity.kubeConfig, (r) => {
      if (r.code === 403 && ours(r)) forbidden.push(r);
    });
    workload = await startSecondControlPlane({ name: 'workload', crds: false });
    metrics = new ControllerMetrics();
    controller = new Controller({
      kubeConfig: identity.kubeConfig,
      autoscalerPollMs: 300,
      metrics,
      log: () => undefined,
    });
    await controller.start();
  });

  afterAll(async () => {
    await controller?.stop();
    await workload?.stop();
  });

  it('labels a new cluster for Rancher auto-import within a second', async () => {
    const ns = await freshNs('ctrl-label');
    const created = performance.now();
    await createCluster(ns, 'fast');
    await waitFor(async () => (await label(ns, 'fast')) === 'true', { timeoutMs: 1000, intervalMs: 20, message: 'auto-import label within 1 s' });
    expect(performance.now() - created).toBeLessThan(1000);
    // The first report already sees the label it just set: Turtles waits for the control plane.
    expect((await waitFor(() => report(ns, 'fast'))).import.state).toBe('WaitingForControlPlane');
  });

  it('rewrites a report status of another shape whole, and leaves alone an LLMCluster it did not create', async () => {
    const ns = await freshNs('ctrl-foreign');
    // GIVEN a report whose status someone else (another version) wrote in another shape
    await createCluster(ns, 'mine');
    await waitFor(() => report(ns, 'mine'));
    // (a merge patch: import and the bundle table removed, a phase of its own)
    await writeStatus(admin, RESOURCES.llmCluster, ns, 'mine', { phase: 'Ready', import: null, bundles: { items: null } });

    // THEN the controller neither crashes nor reads it field by field: the whole status is its own again
    const repaired = await waitFor(async () => {
      const s = await report(ns, 'mine');
      return s && typeof s.import === 'object' && Array.isArray(s.bundles.items) ? s : undefined;
    });
    expect(repaired.phase).toBe('Provisioning');
    expect(repaired.conditions.map((c) => c.type)).toStrictEqual(['Provisioned', 'Imported', 'BundlesReady', 'AutoscalerHealthy', 'Ready']);

    // AND an LLMCluster without a CAPI Cluster that it did not create (no managed-by label) is not deleted
    const gone = async () => (await metrics.reconciles.get()).values.find((v) => v.labels.result === 'deleted')?.value ?? 0;
    const seen = await gone();
    await create(admin, RESOURCES.llmCluster, { apiVersion: 'llmstack.dev/v1alpha1', kind: 'LLMCluster', metadata: { name: 'hand-made', namespace: ns }, spec: { clusterName: 'hand-made' } });
    await writeStatus(admin, RESOURCES.llmCluster, ns, 'hand-made', { phase: 'Ready' });
    // once it has judged the orphan (a reconcile with no cluster), the object is still there
    await waitFor(async () => (await gone()) > seen);
    expect(await getObject(admin, RESOURCES.llmCluster, ns, 'hand-made')).toBeDefined();
    expect(controller.healthy()).toBe(true);
  });

  it('respects an explicit false on the Cluster and on its Namespace', async () => {
    const ns = await freshNs('ctrl-optout');
    await createCluster(ns, 'mine', { [AUTO_IMPORT]: 'false' });
    const nsOff = await freshNs('ctrl-nsoff');
    await patchLabels(admin, RESOURCES.namespace, undefined, nsOff, { [AUTO_IMPORT]: 'false' });
    await createCluster(nsOff, 'inherits');
    const a = await waitFor(() => report(ns, 'mine'));
    const b = await waitFor(() => report(nsOff, 'inherits'));
    expect(a.import.state).toBe('OptedOut');
    expect(b.import.state).toBe('OptedOut');
    expect(await label(ns, 'mine')).toBe('false');
    expect(await label(nsOff, 'inherits')).toBeUndefined();

    // AND once the Namespace drops its "false", its cluster is labelled after all
    await patchLabels(admin, RESOURCES.namespace, undefined, nsOff, { [AUTO_IMPORT]: null });
    await waitFor(async () => (await label(nsOff, 'inherits')) === 'true');
  });

  it('follows provisioning, import, rollout and the autoscaler to Ready, then removes the report with the cluster', async () => {
    const ns = await freshNs('ctrl-flow');
    const name = 'llm';
    const rancherName = `c-${ns.slice(-6)}`;
    const agentNs = `cluster-fleet-default-${rancherName}`;
    const md = `${name}-md-0-x7k2p`;
    // GIVEN a generated Cluster: labelled, Provisioning. (createCluster also applies the Role llmstack
    // renders next to it, controller-access.yaml, which lets the controller read exactly this cluster's
    // kubeconfig Secret; Fleet applies it together with the Cluster.)
    await createCluster(ns, name);
    await waitFor(async () => (await report(ns, name))?.phase === 'Provisioning');

    // WHEN CAPI brings the control plane up and creates the pool
    await writeStatus(admin, RESOURCES.capiCluster, ns, name, capiProvisioned());
    await create(admin, RESOURCES.machineDeployment, machineDeployment(ns, name, md, 2));
    await writeStatus(admin, RESOURCES.machineDeployment, ns, md, { replicas: 2, readyReplicas: 2, availableReplicas: 2, upToDateReplicas: 2, phase: 'Running' });
    // THEN it waits for the import
    await waitFor(async () => (await report(ns, name))?.phase === 'Importing');
    expect((await report(ns, name))!.import.state).toBe('Pending');

    // WHEN Turtles imports it and the agent comes up
    await create(admin, TEST_RANCHER_CLUSTER, rancherCluster(ns, name, rancherName));
    await waitFor(async () => (await report(ns, name))?.import.state === 'Importing');
    await writeStatus(admin, TEST_RANCHER_CLUSTER, ns, rancherName, rancherAgentReady());
    await waitFor(async () => (await report(ns, name))?.import.state === 'AgentReady');
    expect((await report(ns, name))!.phase).toBe('Deploying');
    expect((await report(ns, name))!.bundles.summary).toBe('0/8');

    // WHEN Fleet registers the cluster and rolls the bundles out
    const capi = (await getObject(admin, RESOURCES.capiCluster, ns, name))!;
    for (const n of [agentNs, 'fleet-default']) await create(admin, RESOURCES.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } }).catch(() => undefined);
    await create(admin, RESOURCES.fleetCluster, fleetCluster(rancherName, agentNs, capi.metadata.labels ?? {}));
    await writeStatus(admin, RESOURCES.fleetCluster, 'fleet-default', rancherName, { namespace: agentNs });
    await create(admin, RESOURCES.fleetGitRepo, gitRepo()).catch(() => undefined);
    await writeStatus(admin, RESOURCES.fleetGitRepo, 'fleet-default', 'quickstart-apps', { commit: '3b9f1c2d4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c' });
    for (const b of BUNDLES) {
      await create(admin, RESOURCES.fleetBundle, fleetBundle(b)).catch(() => undefined);
      await create(admin, RESOURCES.fleetBundleDeployment, bundleDeployment(b, agentNs, rancherName));
    }
    await waitFor(async () => (await report(ns, name))?.bundles.total === 8);
    for (const b of BUNDLES) await writeStatus(admin, RESOURCES.fleetBundleDeployment, agentNs, fleetBundleName(b), bundleDeploymentReady(b));
    await waitFor(async () => (await report(ns, name))?.bundles.summary === '8/8', { timeoutMs: 15_000 });

    // WHEN the autoscaler reports from the workload cluster, through the kubeconfig Secret CAPI writes
    // (readable by the controller through the Role granted above)
    await create(admin, RESOURCES.secret, kubeconfigSecret(ns, name, readFileSync(workload.kubeconfigPath)));
    await create(workload.kubeConfig, RESOURCES.configMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cluster-autoscaler-status', namespace: 'kube-system' },
      data: { status: autoscalerStatusText(ns, md, { ready: 2, target: 2 }) },
    } as KubeObject);

    // THEN the report is Ready, with every part filled in
    const ready = await waitFor(async () => {
      const r = await report(ns, name);
      return r?.phase === 'Ready' && r.autoscaler.health === 'Healthy' ? r : undefined;
    }, { timeoutMs: 15_000 }).catch(async (e: unknown) => {
      throw new Error(`${String(e)}; last report: ${JSON.stringify(await report(ns, name))}`);
    });
    expect(ready.import).toStrictEqual({ state: 'AgentReady', rancherCluster: rancherName, message: expect.any(String) as unknown as string });
    expect(ready.bundles.commit).toBe('3b9f1c2d4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c');
    expect(ready.bundles.items.map((b) => `${b.bundle}:${b.state}`)).toStrictEqual(BUNDLES.map((b) => `${b}:Ready`));
    expect(ready.nodes.summary).toBe('2 (1..3)');
    expect(ready.autoscaler.health).toBe('Healthy');
    expect(ready.nodePools[0]).toMatchObject({ name: 'md-0', machineDeployment: md, min: 1, max: 3, replicas: 2, readyReplicas: 2, autoscaler: { health: 'Healthy', cloudProviderTarget: 2 } });
    expect(ready.conditions.map((c) => `${c.type}=${c.status}`)).toStrictEqual([
      'Provisioned=True',
      'Imported=True',
      'BundlesReady=True',
      'AutoscalerHealthy=True',
      'Ready=True',
    ]);

    // AND events were recorded on the transitions
    const events = await kubeRequest<{ items: { reason: string; involvedObject: { name: string } }[] }>(admin, 'GET', `/api/v1/namespaces/${ns}/events`);
    const reasons = new Set(events.items.filter((e) => e.involvedObject.name === name).map((e) => e.reason));
    expect(reasons).toContain('BundlesReady');
    expect(reasons).toContain('PhaseChanged');

    // WHEN a garbage status replaces the autoscaler's
    await kubeRequest(workload.kubeConfig, 'PATCH', '/api/v1/namespaces/kube-system/configmaps/cluster-autoscaler-status', {
      body: { data: { status: '\u0000{{ not a status ]]' } },
      contentType: 'application/merge-patch+json',
    });
    // THEN it says so, and keeps the rest of the report
    const garbage = await waitFor(async () => {
      const r = await report(ns, name);
      return r?.autoscaler.health === 'Unparseable' ? r : undefined;
    });
    expect(garbage.bundles.summary).toBe('8/8');
    // and the cluster is not Ready while its autoscaler cannot be read
    expect(garbage.phase).toBe('Degraded');
    expect(garbage.message).toMatch(/cluster-autoscaler status cannot be read/);
    expect(controller.healthy()).toBe(true);

    // WHEN the cluster is deleted THEN its report goes too
    await kubeRequest(admin, 'DELETE', `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/clusters/${name}`);
    await waitFor(async () => (await getObject(admin, RESOURCES.llmCluster, ns, name)) === undefined);
  });

  it('reads the autoscaler of a pool that exists only in the topology, before CAPI made its MachineDeployment', async () => {
    const ns = await freshNs('ctrl-topo');
    const name = 'early';
    // GIVEN a Cluster whose topology has an autoscaled pool, and no MachineDeployment yet
    await createCluster(ns, name);
    await create(admin, RESOURCES.secret, kubeconfigSecret(ns, name, readFileSync(workload.kubeconfigPath)));
    // THEN its autoscaler status is read (the workload cluster of the flow above still has an unparseable one)
    const r = await waitFor(async () => {
      const x = await report(ns, name);
      return x && x.autoscaler.health !== 'Unknown' ? x : undefined;
    }, { timeoutMs: 10_000, message: 'the autoscaler status of a topology-only pool' });
    expect(r.autoscaler.health).toBe('Unparseable');
    expect(r.nodePools.map((p) => p.name)).toStrictEqual(['md-0']);
    expect(r.nodePools[0]!.machineDeployment).toBeUndefined();
  });

  it('names the Secrets Fleet cannot copy for a cluster, from the generated bundles, until `llmstack secrets` makes them', async () => {
    const gw = await freshNs('ctrl-sec-gw');
    const models = await freshNs('ctrl-sec-models');
    const stackName = `s${gw.slice(-6)}`;
    const rancherName = `c-${gw.slice(-6)}`;
    const agentNs = `cluster-fleet-default-${rancherName}`;
    // GIVEN a generated stack (Rancher's import: the Bundles and the Secrets they copy live in
    // fleet-default) whose gateway routes to the models cluster's exposed Ollama
    const stack = parseSpec(
      `apiVersion: llmstack.dev/v1alpha1
kind: Stack
metadata: {name: ${stackName}}
spec:
  clusters:
    - {name: gateway, namespace: ${gw}, class: docker-llm, apps: [litellm, openwebui]}
    - {name: models, namespace: ${models}, class: docker-llm, apps: [ollama], ollamaEndpoint: {host: ollama.models.example.test, tlsSecret: models-tls}}
  apps:
    litellm:
      models:
        - {name: qwen, model: ollama/qwen2.5:0.5b}
`,
      'sec.yaml',
      await loadCatalog(),
    );
    const files = renderStack(stack, await loadCatalog()).files;
    const gateway = stack.spec.clusters[0]!;
    const clusterObj = parse(files.find((f) => f.path === `management/clusters/${gw}/gateway/cluster.yaml`)!.content) as KubeObject;
    const labels = renderedClusterLabels(files, gw, 'gateway');
    // the Cluster with the Role Fleet applies next to it (controller-access.yaml), nothing more
    await grantControllerAccess(admin, identity.serviceAccount, renderControllerAccess(stack, gateway) as KubeObject[]);
    const seen: RequestRecord[] = [];
    const off = onRequest(identity.kubeConfig, (r) => r.path.startsWith('/api/v1/namespaces/fleet-default/secrets') && seen.push(r));
    try {
      await create(admin, RESOURCES.capiCluster, clusterObj);
      await writeStatus(admin, RESOURCES.capiCluster, gw, 'gateway', capiProvisioned());
      await create(admin, TEST_RANCHER_CLUSTER, rancherCluster(gw, 'gateway', rancherName));
      await writeStatus(admin, TEST_RANCHER_CLUSTER, gw, rancherName, rancherAgentReady());
      await create(admin, RESOURCES.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: agentNs } });
      await create(admin, RESOURCES.fleetCluster, fleetCluster(rancherName, agentNs, labels));
      await writeStatus(admin, RESOURCES.fleetCluster, 'fleet-default', rancherName, { namespace: agentNs });
      // AND Fleet v0.16.1's objects for the litellm bundle: the Bundle `fleet apply` makes of the
      // rendered fleet.yaml and the BundleDeployment with the options merged for this cluster
      const fleetYaml = parse(files.find((f) => f.path === 'bundles/litellm/fleet.yaml')!.content) as { labels: Record<string, string>; downstreamResources: unknown[] };
      const deployed = deployedBundle(files, 'bundles/litellm', labels)!;
      const bundleName = `${stackName}-apps-bundles-litellm`;
      await create(admin, RESOURCES.fleetBundle, {
        apiVersion: 'fleet.cattle.io/v1alpha1',
        kind: 'Bundle',
        metadata: { name: bundleName, namespace: 'fleet-default', labels: { ...fleetYaml.labels, 'fleet.cattle.io/repo-name': `${stackName}-apps` } },
        spec: { defaultNamespace: 'llm', downstreamResources: fleetYaml.downstreamResources, targets: [{ clusterSelector: { matchLabels: { 'bundle.llmstack.dev/litellm': 'true' } } }] },
      } as KubeObject);
      const bd = bundleDeployment('litellm', agentNs, rancherName);
      bd.metadata.name = bundleName;
      bd.metadata.labels = { ...bd.metadata.labels, 'fleet.cattle.io/bundle-name': bundleName, 'llmstack.dev/bundle': 'litellm', 'llmstack.dev/stack': stackName };
      (bd.spec as { options: Record<string, unknown> }).options.downstreamResources = deployed.downstreamResources;
      await create(admin, RESOURCES.fleetBundleDeployment, bd);

      // THEN the report names both Secrets Fleet would copy to the gateway (the master key of every
      // LiteLLM, the models cluster's endpoint key of its customization) and what to do
      const master = `${stackName}-litellm-master-key`;
      const endpointKey = `${stackName}-${models}-models-ollama-key`;
      const blocked = await waitFor(async () => {
        const r = await report(gw, 'gateway');
        return r?.missingSecrets?.length === 2 ? r : undefined;
      }, { message: 'the missing Secrets in the report' });
      expect(blocked.missingSecrets).toStrictEqual([master, endpointKey].sort().map((name) => ({ namespace: 'fleet-default', name, bundles: [bundleName] })));
      expect(blocked.phase).toBe('Deploying');
      expect(blocked.message).toMatch(/^blocked, missing on the management cluster: fleet-default\/.* \(needed by .*\); `llmstack secrets --spec FILE`/);
      expect(blocked.bundles.items.find((i) => i.bundle === 'litellm')?.message).toBe(
        `waiting for Secrets ${[master, endpointKey].sort().map((n) => `fleet-default/${n}`).join(', ')} on the management cluster (Fleet copies them to the cluster from there)`,
      );
      expect(blocked.conditions.find((c) => c.type === 'BundlesReady')).toMatchObject({ status: 'False', reason: 'SecretsMissing' });
      // and a Warning Event on the Cluster for each
      const warned = async () =>
        (await kubeRequest<{ items: { reason: string; type: string }[] }>(admin, 'GET', `/api/v1/namespaces/${gw}/events`)).items.filter((e) => e.reason === 'SecretMissing' && e.type === 'Warning').length;
      await waitFor(async () => (await warned()) === 2, { message: 'a SecretMissing Event per Secret' });

      // WHEN `llmstack secrets` makes llmstack's own keys on the management cluster
      const made = await ensureSecrets(admin, stack, false);
      expect(made.filter((m) => m.state === 'created').map((m) => `${m.namespace}/${m.name}`)).toEqual(expect.arrayContaining([`fleet-default/${master}`, `fleet-default/${endpointKey}`]));
      // THEN the report clears without any other change (the controller polls the Secrets it may read)
      const cleared = await waitFor(async () => {
        const r = await report(gw, 'gateway');
        return r && r.missingSecrets === undefined ? r : undefined;
      }, { message: 'the report after the Secrets were made' });
      expect(cleared.conditions.find((c) => c.type === 'BundlesReady')?.reason).toBe('BundlesNotReady');
      // (what the controller's reads return: the metadata, never the key)
      const meta = await getMetadata(identity.kubeConfig, RESOURCES.secret, 'fleet-default', master);
      expect(meta?.kind).toBe('PartialObjectMetadata');
      expect(meta).not.toHaveProperty('data');
    } finally {
      off();
    }
    // AND it asked for exactly those Secrets, each by name, and was never refused
    const asked = [...new Set(seen.map((r) => `${r.verb} ${r.code} ${r.path.split('/').pop()}`))].sort();
    const names = [`${stackName}-${models}-models-ollama-key`, `${stackName}-litellm-master-key`];
    expect(asked).toStrictEqual(names.flatMap((n) => [`get 200 ${n}`, `get 404 ${n}`]).sort());
  });

  it('observed the latency of every label it wrote, and no status patch conflicted with its own earlier write', async () => {
    const ns = await freshNs('ctrl-own');
    const conflicts = async () => (await metrics.reconciles.get()).values.find((v) => v.labels.result === 'conflict')?.value ?? 0;
    const before = await conflicts();
    // GIVEN a burst of changes to one cluster's inputs, each a reconcile right after the last one's write
    await createCluster(ns, 'busy');
    await waitFor(() => report(ns, 'busy'));
    await writeStatus(admin, RESOURCES.capiCluster, ns, 'busy', capiProvisioned());
    for (let i = 0; i < 5; i++) {
      const md = `busy-md-${i}`;
      await create(admin, RESOURCES.machineDeployment, machineDeployment(ns, 'busy', md, 1));
      await writeStatus(admin, RESOURCES.machineDeployment, ns, md, { replicas: 1, readyReplicas: 1, availableReplicas: 1, upToDateReplicas: 1, phase: 'Running' });
    }
    await waitFor(async () => (await report(ns, 'busy'))?.nodePools.filter((p) => p.readyReplicas === 1).length === 5, { timeoutMs: 15_000 });
    // THEN none of its patches failed against its own previous write
    expect((await conflicts()) - before).toBe(0);
    // AND every label it wrote in this run has one latency observation, even when the watch event of the
    // label came before the patch's response
    const labelled = (await metrics.autoImportLabels.get()).values[0]?.value ?? 0;
    const observed = (await metrics.autoImportLatency.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    expect(labelled).toBeGreaterThan(3);
    expect(observed).toBe(labelled);
  });

  it('ran on its ClusterRole and the rendered kubeconfig Role alone: no request was forbidden', () => {
    expect(forbidden.map((r) => `${r.verb} ${r.path}`)).toStrictEqual([]);
  });
});

describeCluster('llmstack status', () => {
  it('prints a line per cluster from the LLMCluster reports, and exits 4 while one is not Ready', async () => {
    const { statusCommand } = await import('../../src/cli/status.js');
    const admin = testCluster().kubeConfig;
    const ns = await freshNs('status');
    await create(admin, RESOURCES.llmCluster, {
      apiVersion: 'llmstack.dev/v1alpha1',
      kind: 'LLMCluster',
      metadata: { name: 'shown', namespace: ns },
      spec: { clusterName: 'shown' },
    } as KubeObject);
    const status: LLMClusterStatus = {
      phase: 'Deploying',
      import: { state: 'AgentReady' },
      bundles: { summary: '7/8', ready: 7, total: 8, items: [{ name: 'quickstart-apps-bundles-ollama', state: 'NotReady', message: 'deployment llm/ollama in-progress' }] },
      nodes: { summary: '2 (1..3)', ready: 2, desired: 2, min: 1, max: 3 },
      nodePools: [],
      autoscaler: { health: 'Healthy' },
      conditions: [],
    };
    await writeStatus(admin, RESOURCES.llmCluster, ns, 'shown', status);
    const out: string[] = [];
    const code = await statusCommand({ kubeconfig: testCluster().kubeconfigPath, namespace: ns }, (l) => out.push(l));
    expect(code).toBe(4);
    const [header, row] = out[0]!.split('\n');
    expect(header!.split(/\s+/)).toStrictEqual(['NAMESPACE', 'NAME', 'PHASE', 'IMPORT', 'BUNDLES', 'NODES', 'AUTOSCALER', 'AGE', 'MESSAGE']);
    expect(row).toMatch(
      new RegExp(`^${ns}\\s+shown\\s+Deploying\\s+AgentReady\\s+bundles 7/8\\s+nodes 2 \\(1\\.\\.3\\)\\s+Healthy\\s+\\d+s\\s+quickstart-apps-bundles-ollama: NotReady \\(deployment llm/ollama in-progress\\)$`),
    );
    const json: string[] = [];
    await statusCommand({ kubeconfig: testCluster().kubeconfigPath, namespace: ns, output: 'json' }, (l) => json.push(l));
    expect(JSON.parse(json[0]!)).toStrictEqual([{ namespace: ns, name: 'shown', status }]);
  });
});
