// Writes against a real apiserver: conflicts surface as KubeError 409, server-side apply of status twice
// stores nothing the second time, skipped status writes send nothing, label patches, deletes, and Events
// that aggregate repeats.
import { KubeConfig } from '@kubernetes/client-node';
import { beforeAll, expect, it } from 'vitest';
import { closeConnections, getObject, isConflict, isKubeError, KubeError, kubeRequest, listObjects, onRequest, WRITE_VERBS, type RequestRecord } from '../../src/kube/http.js';
import { RESOURCES, type KubeObject } from '../../src/kube/resources.js';
import { applyObject, applyStatus, createObject, deleteObject, EventRecorder, mergePatchLabels, mergePatchOf, patchStatus, replaceObject } from '../../src/kube/write.js';
import { describeCluster, testCluster } from '../support/cluster.js';

const MANAGER = 'llmstack-controller';

async function rejection(p: Promise<unknown>): Promise<KubeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KubeError) return err;
    throw err;
  }
  throw new Error('expected the server to refuse');
}

interface CoreEvent extends KubeObject {
  count?: number;
  reason?: string;
  message?: string;
  type?: string;
  firstTimestamp?: string;
  lastTimestamp?: string;
}

describeCluster('writes', () => {
  let kc: KubeConfig;
  let ns: string;

  beforeAll(async () => {
    kc = testCluster().kubeConfig;
    ns = await testCluster().freshNamespace('kube-write');
  });

  it('a write with a stale resourceVersion surfaces as KubeError 409 Conflict', async () => {
    // GIVEN an object read at one version and changed since
    const stale = await createObject(kc, RESOURCES.configMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'contended', namespace: ns }, data: { v: '1' } });
    await replaceObject(kc, RESOURCES.configMap, { ...stale, data: { v: '2' } });

    // WHEN it is written on top of the old version (replace, or a label patch with the old version)
    const put = await rejection(replaceObject(kc, RESOURCES.configMap, { ...stale, data: { v: 'stale' } }));
    const patch = await rejection(mergePatchLabels(kc, RESOURCES.configMap, ns, 'contended', { a: 'b' }, { resourceVersion: stale.metadata.resourceVersion! }));

    // THEN the server refuses both with its own Status
    const expected = {
      code: 409,
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on configmaps "contended": the object has been modified; please apply your changes to the latest version and try again',
    };
    expect({ code: put.code, reason: put.reason, message: put.message }).toStrictEqual(expected);
    expect({ code: patch.code, reason: patch.reason, message: patch.message }).toStrictEqual(expected);
    expect(isKubeError(put, 409)).toBe(true);
    expect((await getObject(kc, RESOURCES.configMap, ns, 'contended'))?.['data']).toStrictEqual({ v: '2' });

    // and without a precondition the label patch merges into the labels that are there
    await mergePatchLabels(kc, RESOURCES.configMap, ns, 'contended', { keep: 'yes', drop: 'soon' });
    const patched = await mergePatchLabels(kc, RESOURCES.configMap, ns, 'contended', { drop: null, added: 'x' });
    expect(patched.metadata.labels).toStrictEqual({ keep: 'yes', added: 'x' });
  });

  it('other server refusals keep their code, reason and message', async () => {
    const notFound = await rejection(kubeRequest(kc, 'GET', `/api/v1/namespaces/${ns}/configmaps/nope`));
    expect([notFound.code, notFound.reason, notFound.message]).toStrictEqual([404, 'NotFound', 'configmaps "nope" not found']);
    const exists = await rejection(createObject(kc, RESOURCES.configMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'contended', namespace: ns } }));
    expect([exists.code, exists.reason]).toStrictEqual([409, 'AlreadyExists']);
    const invalid = await rejection(createObject(kc, RESOURCES.configMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_Valid', namespace: ns } }));
    expect([invalid.code, invalid.reason]).toStrictEqual([422, 'Invalid']);
    expect(invalid.details?.causes?.[0]?.field).toBe('metadata.name');
    expect(await getObject(kc, RESOURCES.configMap, ns, 'nope')).toBeUndefined();
  });

  it('server-side apply of the same status twice stores nothing the second time', async () => {
    // GIVEN an LLMCluster
    await createObject(kc, RESOURCES.llmCluster, {
      apiVersion: 'llmstack.dev/v1alpha1',
      kind: 'LLMCluster',
      metadata: { name: 'demo', namespace: ns },
      spec: { clusterName: 'demo' },
    });
    const status = { phase: 'Provisioning', message: 'waiting for the control plane', observedGeneration: 1 };

    // WHEN its status is applied, then applied again unchanged
    const first = await applyStatus(kc, RESOURCES.llmCluster, ns, 'demo', status, MANAGER);
    const second = await applyStatus(kc, RESOURCES.llmCluster, ns, 'demo', status, MANAGER);

    // THEN the second apply is a no-op on the server: same resourceVersion
    expect(first['status']).toStrictEqual(status);
    expect(second.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    const managers = (first.metadata['managedFields'] as Array<{ manager: string; subresource?: string }>).map((m) => [m.manager, m.subresource ?? '']);
    expect(managers).toContainEqual([MANAGER, 'status']);

    // and a changed status is stored, and a field no longer applied is removed (SSA ownership)
    const third = await applyStatus(kc, RESOURCES.llmCluster, ns, 'demo', { phase: 'Ready', observedGeneration: 1 }, MANAGER);
    expect(third.metadata.resourceVersion).not.toBe(first.metadata.resourceVersion);
    expect(third['status']).toStrictEqual({ phase: 'Ready', observedGeneration: 1 });
  });

  it('patchStatus sends only what changed, removes what is gone, and refuses to diff against a stale object', async () => {
    // GIVEN an LLMCluster with a status
    const created = await createObject(kc, RESOURCES.llmCluster, {
      apiVersion: 'llmstack.dev/v1alpha1',
      kind: 'LLMCluster',
      metadata: { name: 'patched', namespace: ns },
      spec: { clusterName: 'patched' },
    });
    const wkc = new KubeConfig();
    wkc.loadFromFile(testCluster().kubeconfigPath);
    const bodies: string[] = [];
    onRequest(wkc, (r) => bodies.push(`${r.verb} ${r.resource} ${r.code}`));
    const first = await patchStatus(wkc, RESOURCES.llmCluster, created, { phase: 'Provisioning', message: 'waiting', bundles: { ready: 0, total: 8 } }, MANAGER);
    expect(first['status']).toStrictEqual({ phase: 'Provisioning', message: 'waiting', bundles: { ready: 0, total: 8 } });
    const managers = (first.metadata['managedFields'] as Array<{ manager: string; subresource?: string }>).map((m) => [m.manager, m.subresource ?? '']);
    expect(managers).toContainEqual([MANAGER, 'status']);

    // WHEN the next status drops a field and changes another
    const second = await patchStatus(wkc, RESOURCES.llmCluster, first, { phase: 'Ready', bundles: { ready: 8, total: 8 } }, MANAGER);

    // THEN the stored status is exactly the new one
    expect(second['status']).toStrictEqual({ phase: 'Ready', bundles: { ready: 8, total: 8 } });
    expect(mergePatchOf(first['status'], second['status'])).toStrictEqual({ phase: 'Ready', message: null, bundles: { ready: 8 } });

    // AND an unchanged status sends nothing, while a diff against the stale first object is refused (409)
    expect(await patchStatus(wkc, RESOURCES.llmCluster, second, { bundles: { total: 8, ready: 8 }, phase: 'Ready' }, MANAGER)).toBe(second);
    const stale = await patchStatus(wkc, RESOURCES.llmCluster, first, { phase: 'Degraded', bundles: { ready: 7, total: 8 } }, MANAGER).catch((e: unknown) => e);
    expect(isConflict(stale)).toBe(true);
    expect(bodies).toStrictEqual(['patch llmclusters/status 200', 'patch llmclusters/status 200', 'patch llmclusters/status 409']);
    closeConnections(wkc);
  });

  it('skips the status request altogether when the current object already has that status', async () => {
    const wkc = new KubeConfig();
    wkc.loadFromFile(testCluster().kubeconfigPath);
    const requests: RequestRecord[] = [];
    onRequest(wkc, (r) => requests.push(r));
    const current = await applyStatus(wkc, RESOURCES.llmCluster, ns, 'demo', { phase: 'Ready', observedGeneration: 1 }, MANAGER);
    expect(requests.map((r) => [r.verb, r.resource, r.code])).toStrictEqual([['patch', 'llmclusters/status', 200]]);

    // key order does not matter; nothing is sent
    const same = await applyStatus(wkc, RESOURCES.llmCluster, ns, 'demo', { observedGeneration: 1, phase: 'Ready' }, MANAGER, { current });
    expect(same).toBe(current);
    expect(requests).toHaveLength(1);
    closeConnections(wkc);
  });

  it('applyObject is server-side apply: a repeat changes nothing, another manager\'s fields stay', async () => {
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace: ns, labels: { 'llmstack.dev/owned': 'true' } }, data: { a: '1' } };
    const first = await applyObject(kc, obj, MANAGER);
    const again = await applyObject(kc, obj, MANAGER);
    expect(again.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    await applyObject(kc, { ...obj, metadata: { name: 'applied', namespace: ns }, data: { b: '2' } }, 'someone-else');
    const merged = await applyObject(kc, { ...obj, data: { a: '3' } }, MANAGER);
    expect(merged['data']).toStrictEqual({ a: '3', b: '2' });
  });

  it('deleteObject reports whether there was something to delete', async () => {
    await createObject(kc, RESOURCES.configMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'doomed', namespace: ns } });
    expect(await deleteObject(kc, RESOURCES.configMap, ns, 'doomed')).toBe(true);
    expect(await deleteObject(kc, RESOURCES.configMap, ns, 'doomed')).toBe(false);
  });

  it('EventRecorder aggregates repeats on one object into one Event, also across recorders', async () => {
    const target = await createObject(kc, RESOURCES.configMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'evented', namespace: ns } });
    const rec = new EventRecorder(kc, { instance: 'replica-1' });
    await rec.event(target, 'Normal', 'Imported', 'cluster imported into Rancher');
    await rec.event(target, 'Normal', 'Imported', 'cluster imported into Rancher');
    await rec.event(target, 'Warning', 'BundleError', 'bundle ollama: ErrApplied');
    // a recorder that remembers nothing (a restarted controller) still bumps the same Event
    const afterRestart = new EventRecorder(kc, { instance: 'replica-1' });
    const third = await afterRestart.event(target, 'Normal', 'Imported', 'cluster imported into Rancher');
    expect(third?.['count']).toBe(3);

    const events = (await listObjects<CoreEvent>(kc, RESOURCES.event, { namespace: ns, fieldSelector: `involvedObject.name=evented` })).items;
    const summary = events.map((e) => [e.type, e.reason, e.message, e.count]).sort();
    expect(summary).toStrictEqual([
      ['Normal', 'Imported', 'cluster imported into Rancher', 3],
      ['Warning', 'BundleError', 'bundle ollama: ErrApplied', 1],
    ]);
    const imported = events.find((e) => e.reason === 'Imported')!;
    expect(imported).toMatchObject({
      involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', name: 'evented', namespace: ns, uid: target.metadata.uid },
      source: { component: 'llmstack-controller', host: 'replica-1' },
      reportingComponent: 'llmstack-controller',
      reportingInstance: 'replica-1',
    });
    expect(Date.parse(imported.lastTimestamp!)).toBeGreaterThanOrEqual(Date.parse(imported.firstTimestamp!));
  });

  it('counts every request by verb, so a caller can prove it wrote nothing', async () => {
    const wkc = new KubeConfig();
    wkc.loadFromFile(testCluster().kubeconfigPath);
    const records: RequestRecord[] = [];
    const unsubscribe = onRequest(wkc, (r) => records.push(r));
    await listObjects(wkc, RESOURCES.configMap, { namespace: ns });
    await getObject(wkc, RESOURCES.configMap, ns, 'applied');
    await getObject(wkc, RESOURCES.configMap, ns, 'absent');
    await mergePatchLabels(wkc, RESOURCES.configMap, ns, 'applied', { counted: 'yes' });
    unsubscribe();
    await getObject(wkc, RESOURCES.configMap, ns, 'applied');
    expect(records.map((r) => [r.verb, r.resource, r.code])).toStrictEqual([
      ['list', 'configmaps', 200],
      ['get', 'configmaps', 200],
      ['get', 'configmaps', 404],
      ['patch', 'configmaps', 200],
    ]);
    expect(records.filter((r) => WRITE_VERBS.has(r.verb))).toHaveLength(1);
    closeConnections(wkc);
  });
});
