// The controller under faults and at rest: an API server restarted under it, a user racing it on the
// auto-import label, CRDs that are not installed yet, and a steady state measured for write requests
// in the API server's own audit log. (A 410 on a watch is covered in kube-informer.test.ts.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import type { LLMClusterStatus } from '../../src/controller/types.js';
import { getObject, onRequest, WRITE_VERBS, type RequestRecord } from '../../src/kube/http.js';
import type { KubeObject } from '../../src/kube/resources.js';
import { applyObject } from '../../src/kube/write.js';
import { describeCluster, startSecondControlPlane, testCluster, waitFor, type ControlPlane, type RestrictedIdentity } from '../support/cluster.js';
import { crdFiles, installCrds, loadCrds } from '../support/crds.js';
import { repoRoot, sharedDir } from '../support/paths.js';
import { capiCluster, capiProvisioned, create, patchLabels, RESOURCES, writeStatus } from '../support/upstream.js';

const AUTO_IMPORT = 'cluster-api.cattle.io/rancher-auto-import';
const rbac = parseAllDocuments(readFileSync(path.join(repoRoot, 'manifests/controller/rbac.yaml'), 'utf8')).map((d) => d.toJS() as KubeObject);

async function controllerIdentity(kc: KubeConfig, restricted: (role: string) => Promise<RestrictedIdentity>): Promise<RestrictedIdentity> {
  await applyObject(kc, rbac.find((d) => d.kind === 'ClusterRole')!, 'llmstack-test');
  return restricted('llmstack-controller');
}

const quiet = () => undefined;

/** Installs the CRDs of some folders only, as a management cluster that lacks the others. */
function installSome(kc: KubeConfig, dirs: string[]) {
  return installCrds(kc, { crds: loadCrds(crdFiles().filter((f) => dirs.some((d) => f.startsWith(d)))) });
}

describeCluster('controller faults and steady state', () => {
  let admin: KubeConfig;
  let identity: RestrictedIdentity;
  let controller: Controller;
  const writes: RequestRecord[] = [];

  beforeAll(async () => {
    admin = testCluster().kubeConfig;
    identity = await controllerIdentity(admin, (r) => testCluster().restrictedIdentity(r));
    onRequest(identity.kubeConfig, (r) => {
      if (WRITE_VERBS.has(r.verb)) writes.push(r);
    });
    controller = new Controller({ kubeConfig: identity.kubeConfig, autoscalerPollMs: 1000, metrics: new ControllerMetrics(), log: quiet });
    await controller.start();
  });
  afterAll(async () => {
    await controller?.stop();
  });

  it('keeps working across a kube-apiserver restart', async () => {
    const ns = await testCluster().freshNamespace('fault-restart');
    await create(admin, RESOURCES.capiCluster, capiCluster(ns, 'before'));
    await waitFor(async () => (await getObject(admin, RESOURCES.llmCluster, ns, 'before'))?.status);
    await testCluster().restartApiServer();
    // Changes made after the restart reach the controller through its re-established watches.
    await create(admin, RESOURCES.capiCluster, capiCluster(ns, 'after'));
    await writeStatus(admin, RESOURCES.capiCluster, ns, 'before', capiProvisioned());
    await waitFor(async () => (await getObject(admin, RESOURCES.capiCluster, ns, 'after'))?.metadata.labels?.[AUTO_IMPORT] === 'true', { timeoutMs: 30_000 });
    await waitFor(async () => ((await getObject(admin, RESOURCES.llmCluster, ns, 'before'))?.status as LLMClusterStatus | undefined)?.controlPlaneReady === true, {
      timeoutMs: 30_000,
    });
    expect(controller.healthy()).toBe(true);
  });

  it('never fights a user who opts out at the same moment it labels', async () => {
    const ns = await testCluster().freshNamespace('fault-race');
    for (let i = 0; i < 5; i++) {
      // The user's "false" and the controller's "true" race; whoever is first, "false" must stand.
      await create(admin, RESOURCES.capiCluster, capiCluster(ns, `race-${i}`));
      await patchLabels(admin, RESOURCES.capiCluster, ns, `race-${i}`, { [AUTO_IMPORT]: 'false' });
    }
    for (let i = 0; i < 5; i++) {
      await waitFor(async () => ((await getObject(admin, RESOURCES.llmCluster, ns, `race-${i}`))?.status as LLMClusterStatus | undefined)?.import.state === 'OptedOut');
    }
    const labels = await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await getObject(admin, RESOURCES.capiCluster, ns, `race-${i}`))?.metadata.labels?.[AUTO_IMPORT]));
    expect(labels).toStrictEqual(['false', 'false', 'false', 'false', 'false']);
  });

  it('makes no write request while nothing changes for 60 s', async () => {
    const ns = await testCluster().freshNamespace('fault-steady');
    await create(admin, RESOURCES.capiCluster, capiCluster(ns, 'steady'));
    await writeStatus(admin, RESOURCES.capiCluster, ns, 'steady', capiProvisioned());
    await waitFor(async () => ((await getObject(admin, RESOURCES.llmCluster, ns, 'steady'))?.status as LLMClusterStatus | undefined)?.controlPlaneReady === true);
    // Let every earlier test's work drain: no write for 3 s in a row.
    await waitFor(
      async () => {
        const n = writes.length;
        await new Promise((r) => setTimeout(r, 3000));
        return writes.length === n;
      },
      { timeoutMs: 60_000 },
    );
    const audited = () => testCluster().readAuditEvents().filter((e) => e.user.username === identity.username && e.stage === 'ResponseComplete');
    const auditBefore = audited().length;
    // The filter is right: the controller's earlier writes (labels, reports, events) are in the log.
    expect(auditBefore).toBeGreaterThan(0);
    const clientBefore = writes.length;
    // The autoscaler poll (every second here), informer watches and resyncs keep running meanwhile.
    await new Promise((r) => setTimeout(r, 60_000));
    expect(audited().slice(auditBefore).map((e) => `${e.verb} ${e.requestURI}`)).toStrictEqual([]);
    expect(writes.slice(clientBefore).map((r) => `${r.verb} ${r.path}`)).toStrictEqual([]);
  }, 120_000);
});

describeCluster('controller with CRDs missing', () => {
  let bare: ControlPlane;
  let controller: Controller;

  beforeAll(async () => {
    // A management cluster with CAPI and llmstack's CRD only: no Fleet, no Rancher.
    bare = await startSecondControlPlane({ name: 'bare', crds: false });
    await installSome(bare.kubeConfig, [path.join(sharedDir(), 'crds/cluster-api'), path.join(repoRoot, 'manifests/crds')]);
    controller = new Controller({ kubeConfig: bare.kubeConfig, availabilityCheckMs: 500, metrics: new ControllerMetrics(), log: quiet });
    await controller.start();
  });
  afterAll(async () => {
    await controller?.stop();
    await bare?.stop();
  });

  it('reports what it can, then picks up Fleet and Rancher when they are installed', async () => {
    expect(controller.informers.bundles.available).toBe(false);
    expect(controller.informers.rancherClusters.available).toBe(false);
    expect(controller.ready()).toBe(true);
    await create(bare.kubeConfig, RESOURCES.capiCluster, capiCluster('default', 'lonely'));
    const first = await waitFor(async () => (await getObject(bare.kubeConfig, RESOURCES.llmCluster, 'default', 'lonely'))?.status as LLMClusterStatus | undefined);
    expect(first.import.state).toBe('Disabled');
    expect(first.bundles.items.every((b) => b.state === 'Pending')).toBe(true);

    await installSome(bare.kubeConfig, [path.join(sharedDir(), 'crds/fleet'), path.join(sharedDir(), 'crds/rancher-crds')]);
    await waitFor(() => controller.informers.bundles.available && controller.informers.rancherClusters.available, { timeoutMs: 15_000 });
    const later = await waitFor(
      async () => {
        const s = (await getObject(bare.kubeConfig, RESOURCES.llmCluster, 'default', 'lonely'))?.status as LLMClusterStatus | undefined;
        return s && s.import.state !== 'Disabled' ? s : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(later.import.state).toBe('WaitingForControlPlane');
    expect(controller.healthy()).toBe(true);
  });
});
