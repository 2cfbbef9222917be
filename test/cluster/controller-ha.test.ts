// Two controller replicas with leader election on the real API server: only the leader writes, and
// when it dies without releasing its Lease the standby takes over within the lease duration, with
// no report update lost or made twice.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import type { LLMClusterStatus } from '../../src/controller/types.js';
import { getObject, onRequest, WRITE_VERBS } from '../../src/kube/http.js';
import type { KubeObject } from '../../src/kube/resources.js';
import { applyObject } from '../../src/kube/write.js';
import { describeCluster, testCluster, waitFor, type RestrictedIdentity } from '../support/cluster.js';
import { repoRoot } from '../support/paths.js';
import { capiCluster, capiProvisioned, create, RESOURCES, writeStatus } from '../support/upstream.js';

const LEASE = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 400 };
const AUTO_IMPORT = 'cluster-api.cattle.io/rancher-auto-import';

interface Replica {
  name: string;
  identity: RestrictedIdentity;
  controller: Controller;
  metrics: ControllerMetrics;
  /** Write requests with the time they were answered. */
  writes: { at: number; what: string }[];
}

describeCluster('two controller replicas', () => {
  let admin: KubeConfig;
  const replicas: Replica[] = [];
  const leaseName = `llmstack-controller-${Date.now().toString(36)}`;

  beforeAll(async () => {
    admin = testCluster().kubeConfig;
    const docs = parseAllDocuments(readFileSync(path.join(repoRoot, 'manifests/controller/rbac.yaml'), 'utf8')).map((d) => d.toJS() as KubeObject);
    await create(admin, RESOURCES.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'llmstack-system' } }).catch(() => undefined);
    for (const kind of ['ClusterRole', 'Role']) await applyObject(admin, docs.find((d) => d.kind === kind)!, 'llmstack-test');
    for (const name of ['a', 'b']) {
      const identity = await testCluster().restrictedIdentity('llmstack-controller');
      // The Lease Role from manifests/controller, bound to this replica's identity.
      await applyObject(
        admin,
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: `lease-${identity.serviceAccount.name}`, namespace: 'llmstack-system' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'llmstack-controller-leader-election' },
          subjects: [{ kind: 'ServiceAccount', name: identity.serviceAccount.name, namespace: identity.serviceAccount.namespace }],
        } as KubeObject,
        'llmstack-test',
      );
      const metrics = new ControllerMetrics();
      const writes: Replica['writes'] = [];
      onRequest(identity.kubeConfig, (r) => {
        if (WRITE_VERBS.has(r.verb) && r.resource !== 'leases' && r.code < 300) writes.push({ at: performance.now(), what: `${r.verb} ${r.path}` });
      });
      const controller = new Controller({
        kubeConfig: identity.kubeConfig,
        metrics,
        log: () => undefined,
        leaderElection: { namespace: 'llmstack-system', name: leaseName, identity: name, ...LEASE },
      });
      replicas.push({ name, identity, controller, metrics, writes });
    }
    await Promise.all(replicas.map((r) => r.controller.start()));
  });

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.controller.stop()));
  });

  it('only the leader writes; a standby takes over within the lease duration when the leader dies', async () => {
    const leader = await waitFor(() => replicas.find((r) => r.controller.isLeader));
    const standby = replicas.find((r) => r !== leader)!;
    const ns = await testCluster().freshNamespace('ha');

    await create(admin, RESOURCES.capiCluster, fixedSize(ns, 'first'));
    await waitFor(async () => (await getObject(admin, RESOURCES.llmCluster, ns, 'first'))?.status);
    expect(standby.writes).toStrictEqual([]);

    // The leader dies: it stops renewing and never releases the Lease.
    await leader.controller.stop({ release: false });
    const died = performance.now();
    await create(admin, RESOURCES.capiCluster, fixedSize(ns, 'second'));
    await writeStatus(admin, RESOURCES.capiCluster, ns, 'first', capiProvisioned());

    await waitFor(async () => (await getObject(admin, RESOURCES.capiCluster, ns, 'second'))?.metadata.labels?.[AUTO_IMPORT] === 'true', { timeoutMs: 10_000, intervalMs: 50 });
    const handover = performance.now() - died;
    expect(standby.controller.isLeader).toBe(true);
    // Expiry is judged from the last renewal the standby saw, so the bound is the lease plus one retry.
    expect(handover).toBeLessThan(LEASE.leaseDurationMs + 2 * LEASE.retryPeriodMs);

    // No update lost: the change made while nobody led is in the report.
    await waitFor(async () => ((await getObject(admin, RESOURCES.llmCluster, ns, 'first'))?.status as LLMClusterStatus | undefined)?.controlPlaneReady === true);
    await waitFor(async () => (await getObject(admin, RESOURCES.llmCluster, ns, 'second'))?.status);
    // None made twice: the dead leader wrote nothing after it died, and the new one wrote each change once.
    expect(leader.writes.filter((w) => w.at > died)).toStrictEqual([]);
    const statusWrites = (name: string) => standby.writes.filter((w) => w.what === `patch /apis/llmstack.dev/v1alpha1/namespaces/${ns}/llmclusters/${name}/status`).length;
    expect(statusWrites('first')).toBe(1);
    expect(statusWrites('second')).toBe(1);
    expect(await standby.metrics.leader.get()).toMatchObject({ values: [{ value: 1 }] });
  });
});

/** A cluster with a fixed-size pool: no autoscaler to poll, so every report write here comes from a change the test made. */
function fixedSize(ns: string, name: string): KubeObject {
  const c = capiCluster(ns, name) as KubeObject & { spec: { topology: { workers: { machineDeployments: Array<Record<string, unknown>> } } } };
  c.spec.topology.workers.machineDeployments = c.spec.topology.workers.machineDeployments.map(({ metadata: _m, ...md }) => ({ ...md, replicas: 2 }));
  return c;
}
