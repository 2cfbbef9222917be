// Proves the test control plane is a real one: schema and CEL validation from the upstream CRDs, RBAC,
// watches, and data that survives an apiserver crash.
import { existsSync } from 'node:fs';
import { ApiException, CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  clusterInfo,
  describeCluster,
  kubeRequest,
  readAuditEvents,
  startSecondControlPlane,
  testCluster,
  waitFor,
  type ControlPlane,
  type KubeStatus,
} from '../support/cluster.js';

/** The server's metav1.Status from a client-node error. */
function serverStatus(err: unknown): { code: number; message: string | undefined } {
  if (!(err instanceof ApiException)) throw err;
  const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
  return { code: err.code, message: (body as KubeStatus).message };
}

async function rejection(p: Promise<unknown>): Promise<{ code: number; message: string | undefined }> {
  try {
    await p;
  } catch (err) {
    return serverStatus(err);
  }
  throw new Error('expected the server to reject the request');
}

// The apiserver skips CEL rules once the schema check failed, and says so.
const CEL_SKIPPED =
  '<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';
const NO_REPO = `GitRepo.fleet.cattle.io "no-repo" is invalid: [spec.repo: Required value, ${CEL_SKIPPED}]`;

describeCluster('test control plane harness', () => {
  let kc: KubeConfig;
  let ns: string;

  beforeAll(async () => {
    kc = testCluster().kubeConfig;
    ns = await testCluster().freshNamespace('harness');
  });

  it('installed every CRD from the shared test data', () => {
    const crds = testCluster().crds;
    expect(crds).toContain('clusters.cluster.x-k8s.io');
    expect(crds).toContain('gitrepos.fleet.cattle.io');
    expect(crds).toContain('gcpclusters.infrastructure.cluster.x-k8s.io');
    expect(crds).toContain('knativeservings.operator.knative.dev');
    expect(crds.length).toBeGreaterThanOrEqual(81);
  });

  it('rejects CRD-invalid objects with the OpenAPI schema message', async () => {
    // GIVEN a v1beta2 Cluster with a string where the schema says boolean, and a GitRepo without spec.repo
    const badCluster = {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'bad-type', namespace: ns },
      spec: { paused: 'yes' },
    };
    const noRepo = {
      apiVersion: 'fleet.cattle.io/v1alpha1',
      kind: 'GitRepo',
      metadata: { name: 'no-repo', namespace: ns },
      spec: { branch: 'main' },
    };
    const good = {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'fine', namespace: ns },
      spec: { paused: true },
    };

    // WHEN they are sent as a server-side dry run
    const results = await testCluster().serverSideDryRun([badCluster, noRepo, good]);

    // THEN the server's own validation messages come back, and the valid one passes
    expect(results.map((r) => [r.ref, r.method, r.ok, r.status, r.message])).toStrictEqual([
      [
        `Cluster/${ns}/bad-type`,
        'create',
        false,
        422,
        `Cluster.cluster.x-k8s.io "bad-type" is invalid: [spec.paused: Invalid value: "string": spec.paused in body must be of type boolean: "string", ${CEL_SKIPPED}]`,
      ],
      [`GitRepo/${ns}/no-repo`, 'apply', false, 422, NO_REPO],
      [`Cluster/${ns}/fine`, 'apply', true, 201, undefined],
    ]);
    // dry run stored nothing
    const list = await kubeRequest<{ items: unknown[] }>(kc, 'GET', `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/clusters`);
    expect(list.body.items).toStrictEqual([]);

    // and a plain create through the typed client is rejected the same way
    const custom = kc.makeApiClient(CustomObjectsApi);
    const err = await rejection(
      custom.createNamespacedCustomObject({ group: 'fleet.cattle.io', version: 'v1alpha1', namespace: ns, plural: 'gitrepos', body: noRepo }),
    );
    expect(err).toStrictEqual({ code: 422, message: NO_REPO });
  });

  it('reports a kind the server does not know', async () => {
    const [r] = await testCluster().serverSideDryRun([
      { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'NoSuchKind', metadata: { name: 'x', namespace: ns } },
    ]);
    expect(r).toStrictEqual({
      ref: `NoSuchKind/${ns}/x`,
      method: 'none',
      ok: false,
      status: 0,
      message: 'no matches for kind "NoSuchKind" in version "cluster.x-k8s.io/v1beta2"',
    });
  });

  it('runs the CRDs\' CEL validation rules', async () => {
    // MachineDrainRule v1beta2: spec.machines has `self.all(x, self.exists_one(y, x == y))`
    const selector = { selector: { matchLabels: { role: 'gpu' } } };
    const [dup, unique] = await testCluster().serverSideDryRun([
      {
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'MachineDrainRule',
        metadata: { name: 'dup', namespace: ns },
        spec: { drain: { behavior: 'Skip' }, machines: [selector, selector] },
      },
      {
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'MachineDrainRule',
        metadata: { name: 'unique', namespace: ns },
        spec: { drain: { behavior: 'Skip' }, machines: [selector] },
      },
    ]);
    expect([dup?.status, dup?.message]).toStrictEqual([
      422,
      'MachineDrainRule.cluster.x-k8s.io "dup" is invalid: spec.machines: Invalid value: entries in machines must be unique',
    ]);
    expect([unique?.ok, unique?.status]).toStrictEqual([true, 201]);
  });

  it('enforces RBAC for a restricted identity', async () => {
    // GIVEN a ClusterRole that may only read namespaces, and a ServiceAccount token bound to it
    const role = `harness-ns-reader-${ns}`;
    await kc.makeApiClient(RbacAuthorizationV1Api).createClusterRole({
      body: {
        metadata: { name: role },
        rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    const identity = await testCluster().restrictedIdentity(role);
    const core = identity.kubeConfig.makeApiClient(CoreV1Api);

    // THEN what the role allows works
    const namespaces = await core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain(ns);

    // and everything else is forbidden by the authorizer
    expect(await rejection(core.listNamespacedSecret({ namespace: ns }))).toStrictEqual({
      code: 403,
      message: `secrets is forbidden: User "${identity.username}" cannot list resource "secrets" in API group "" in the namespace "${ns}"`,
    });
    const custom = identity.kubeConfig.makeApiClient(CustomObjectsApi);
    const createCluster = custom.createNamespacedCustomObject({
      group: 'cluster.x-k8s.io',
      version: 'v1beta2',
      namespace: ns,
      plural: 'clusters',
      body: { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: { name: 'denied' }, spec: {} },
    });
    expect(await rejection(createCluster)).toStrictEqual({
      code: 403,
      message: `clusters.cluster.x-k8s.io is forbidden: User "${identity.username}" cannot create resource "clusters" in API group "cluster.x-k8s.io" in the namespace "${ns}"`,
    });
  });

  it('delivers ADDED, MODIFIED and DELETED watch events', async () => {
    const events: Array<[string, string | undefined, string | undefined]> = [];
    const watch = new Watch(kc);
    const req = await watch.watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      {},
      (type, obj: { metadata?: { name?: string }; data?: Record<string, string> }) => {
        events.push([type, obj.metadata?.name, obj.data?.step]);
      },
      () => {},
    );
    try {
      const core = kc.makeApiClient(CoreV1Api);
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'watched' }, data: { step: 'one' } } });
      await core.replaceNamespacedConfigMap({
        name: 'watched',
        namespace: ns,
        body: { metadata: { name: 'watched' }, data: { step: 'two' } },
      });
      await core.deleteNamespacedConfigMap({ name: 'watched', namespace: ns });
      await waitFor(() => events.length >= 3, { message: 'three watch events' });
      expect(events).toStrictEqual([
        ['ADDED', 'watched', 'one'],
        ['MODIFIED', 'watched', 'two'],
        ['DELETED', 'watched', 'two'],
      ]);
    } finally {
      req.abort();
    }
  });

  it.runIf(clusterInfo?.auditLogPath)('writes every write request to the audit log', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'audited' } } });
    await core.readNamespacedConfigMap({ name: 'audited', namespace: ns });
    const mine = readAuditEvents().filter((e) => e.objectRef?.namespace === ns && e.objectRef?.name === 'audited');
    // reads are not logged by the policy; the create is, with its final status
    expect(mine.map((e) => [e.verb, e.user.username, e.objectRef?.resource, e.responseStatus?.code, e.stage])).toStrictEqual([
      ['create', 'llmstack-admin', 'configmaps', 201, 'ResponseComplete'],
    ]);
  });

  it.runIf(clusterInfo?.canRestart)('keeps objects across a kube-apiserver crash and restart', async () => {
    // GIVEN an object stored before the crash
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'survivor' }, data: { k: 'v' } } });

    // WHEN kube-apiserver is killed, it is really gone
    await testCluster().killApiServer();
    await expect(kubeRequest(kc, 'GET', '/readyz', { timeoutMs: 2000 })).rejects.toThrow(/ECONNREFUSED/);

    // THEN after a start on the same etcd and port the object is still there
    await testCluster().startApiServer();
    const cm = await core.readNamespacedConfigMap({ name: 'survivor', namespace: ns });
    expect(cm.data).toStrictEqual({ k: 'v' });

    // and a one-call restart gives a new process too
    const restart = await testCluster().restartApiServer();
    expect(restart.pid).not.toBe(restart.previousPid);
    expect((await core.readNamespacedConfigMap({ name: 'survivor', namespace: ns })).data).toStrictEqual({ k: 'v' });
  });
});

describeCluster('second control plane', () => {
  let second: ControlPlane | undefined;

  afterAll(async () => {
    await second?.stop();
  });

  it('is independent of the shared one', async () => {
    second = await startSecondControlPlane({ name: 'workload', crds: false });
    expect(second.server).not.toBe(testCluster().server);
    const ns = await testCluster().freshNamespace('only-in-shared');
    const res = await kubeRequest(second.kubeConfig, 'GET', `/api/v1/namespaces/${ns}`);
    expect(res.status).toBe(404);
    const dataDir = second.dataDir;
    await second.stop();
    if (dataDir) expect(existsSync(dataDir)).toBe(false);
  });
});
