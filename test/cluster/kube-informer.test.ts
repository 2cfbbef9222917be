// The informer on a real kube-apiserver: events, a crash of the apiserver mid-watch, a real 410 from the
// watch cache, a CRD that appears (and goes) while it runs, and scope taken from discovery.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeConnections, getObject, isKubeError, onRequest, watchStream, WRITE_VERBS, type RequestRecord } from '../../src/kube/http.js';
import { Informer, type LogLevel } from '../../src/kube/informer.js';
import { RESOURCES, type KubeObject, type ResourceType } from '../../src/kube/resources.js';
import { applyObject, createObject, deleteObject, replaceObject } from '../../src/kube/write.js';
import { clusterInfo, describeCluster, testCluster, waitFor } from '../support/cluster.js';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

type Seen = [event: 'add' | 'update' | 'delete', name: string, step: string | undefined];

/** Every handler call, in order. */
function record<T extends ConfigMap>(inf: Informer<T>): Seen[] {
  const seen: Seen[] = [];
  inf.on('add', (o) => seen.push(['add', o.metadata.name, o.data?.step]));
  inf.on('update', (o) => seen.push(['update', o.metadata.name, o.data?.step]));
  inf.on('delete', (o) => seen.push(['delete', o.metadata.name, o.data?.step]));
  return seen;
}

/** name -> data.step of everything in the cache. */
function contents(inf: Informer<ConfigMap>): Record<string, string | undefined> {
  return Object.fromEntries(inf.list().map((o) => [o.metadata.name, o.data?.step]));
}

const cm = (namespace: string, name: string, step: string): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: { step },
});

/** Its own KubeConfig (own connections, own request hook) on the shared control plane, or via `server`. */
function freshKubeConfig(server?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testCluster().kubeconfigPath);
  if (!server) return kc;
  const current = kc.getCurrentCluster();
  kc.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === current?.name ? { ...c, server } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return kc;
}

function logs(): { lines: Array<[LogLevel, string]>; log: (level: LogLevel, m: string) => void } {
  const lines: Array<[LogLevel, string]> = [];
  return { lines, log: (level, m) => lines.push([level, m]) };
}

/** A TCP proxy in front of the apiserver that the test can cut: the informer's network, not the apiserver, goes down. */
async function startProxy(target: URL) {
  const sockets = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) return client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', close);
      s.on('close', close);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      cut = false;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describeCluster('Informer', () => {
  let kc: KubeConfig;
  const informers: Array<Informer<ConfigMap> | Informer> = [];
  const track = <I extends Informer<ConfigMap> | Informer>(inf: I): I => {
    informers.push(inf);
    return inf;
  };

  beforeAll(() => {
    kc = testCluster().kubeConfig;
  });

  afterAll(async () => {
    await Promise.all(informers.map((i) => i.stop()));
  });

  it('caches a namespace and hands add, update and delete to its handlers, without writing anything', async () => {
    // GIVEN an object that exists before the informer starts
    const ns = await testCluster().freshNamespace('inf-events');
    await createObject(kc, RESOURCES.configMap, cm(ns, 'before', 'zero'));
    const ikc = freshKubeConfig();
    const requests: RequestRecord[] = [];
    onRequest(ikc, (r) => requests.push(r));
    const inf = track(new Informer<ConfigMap>(ikc, RESOURCES.configMap, { namespace: ns }));
    const seen = record(inf);

    // WHEN it starts, and an object is created, replaced and deleted
    await inf.start();
    expect([inf.synced, inf.available]).toStrictEqual([true, true]);
    expect(seen).toStrictEqual([['add', 'before', 'zero']]);
    const created = await createObject<ConfigMap>(kc, RESOURCES.configMap, cm(ns, 'watched', 'one'));
    await replaceObject(kc, RESOURCES.configMap, { ...created, data: { step: 'two' } });
    await deleteObject(kc, RESOURCES.configMap, ns, 'watched');

    // THEN the handlers see each change once, in order, and the cache holds the end state
    await waitFor(() => seen.length === 4, { message: 'four handler calls' });
    expect(seen).toStrictEqual([
      ['add', 'before', 'zero'],
      ['add', 'watched', 'one'],
      ['update', 'watched', 'two'],
      ['delete', 'watched', 'two'],
    ]);
    expect(contents(inf)).toStrictEqual({ before: 'zero' });
    // list items lack apiVersion and kind for built-in kinds; the cache fills them in
    expect(inf.get(ns, 'before')).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'before', namespace: ns } });
    expect(inf.get(ns, 'watched')).toBeUndefined();

    // and it only ever read: one list, watches, no write verb
    expect(requests.filter((r) => WRITE_VERBS.has(r.verb))).toStrictEqual([]);
    expect(requests.map((r) => r.verb)).toContain('list');
    await inf.stop();
    expect(requests.filter((r) => r.verb === 'watch').length).toBeGreaterThanOrEqual(1);
    closeConnections(ikc);
  });

  it('replays every object as an update on each periodic resync', async () => {
    const ns = await testCluster().freshNamespace('inf-resync');
    await createObject(kc, RESOURCES.configMap, cm(ns, 'steady', 'same'));
    const inf = track(new Informer<ConfigMap>(kc, RESOURCES.configMap, { namespace: ns, resyncMs: 300 }));
    const seen = record(inf);
    await inf.start();
    await waitFor(() => inf.stats.resyncs >= 2, { message: 'two resyncs' });
    // unchanged object, replayed as an update each time
    expect(seen.slice(0, 3)).toStrictEqual([
      ['add', 'steady', 'same'],
      ['update', 'steady', 'same'],
      ['update', 'steady', 'same'],
    ]);
    expect(contents(inf)).toStrictEqual({ steady: 'same' });
    await inf.stop();
  });

  it.runIf(clusterInfo?.canRestart)('survives a kube-apiserver crash mid-watch and catches up on what changed while it was away', async () => {
    // GIVEN an informer watching two objects, with quick retries, through a proxy the test can cut
    const ns = await testCluster().freshNamespace('inf-restart');
    await createObject(kc, RESOURCES.configMap, cm(ns, 'a', 'one'));
    await createObject(kc, RESOURCES.configMap, cm(ns, 'b', 'one'));
    const proxy = await startProxy(new URL(testCluster().server));
    const pkc = freshKubeConfig(proxy.url);
    const { lines, log } = logs();
    const inf = track(new Informer<ConfigMap>(pkc, RESOURCES.configMap, { namespace: ns, backoff: { initialMs: 100, maxMs: 1000 }, log }));
    const seen = record(inf);
    try {
      await inf.start();
      await waitFor(() => inf.stats.watches >= 1, { message: 'watch open' });

      // WHEN the apiserver is killed (SIGKILL) under the open watch
      const errorsBefore = inf.stats.errors;
      const t0 = performance.now();
      await testCluster().killApiServer();
      await waitFor(() => inf.stats.errors > errorsBefore, { message: 'the informer noticed the broken watch' });
      // and, while the informer cannot get back (its network is cut), the apiserver comes back and objects change
      proxy.cut();
      await testCluster().startApiServer();
      const a = await getObject<ConfigMap>(kc, RESOURCES.configMap, ns, 'a');
      await replaceObject(kc, RESOURCES.configMap, { ...a!, data: { step: 'two' } });
      await deleteObject(kc, RESOURCES.configMap, ns, 'b');
      await createObject(kc, RESOURCES.configMap, cm(ns, 'c', 'one'));
      expect(contents(inf)).toStrictEqual({ a: 'one', b: 'one' });
      const restored = performance.now();
      proxy.restore();

      // THEN it catches up: the cache is exact and the handlers saw each change once
      await waitFor(() => JSON.stringify(contents(inf)) === JSON.stringify({ a: 'two', c: 'one' }), {
        timeoutMs: 30_000,
        message: 'cache caught up',
      });
      const caughtUp = performance.now();
      expect(seen.slice(2)).toEqual(expect.arrayContaining([['update', 'a', 'two'], ['delete', 'b', 'one'], ['add', 'c', 'one']]));
      expect(seen.slice(2)).toHaveLength(3);
      expect(lines.filter(([l]) => l === 'warn').length).toBeGreaterThanOrEqual(1);
      console.error(
        `[kube-informer] apiserver killed, restarted and changed in ${((restored - t0) / 1000).toFixed(1)} s; informer caught up ${((caughtUp - restored) / 1000).toFixed(1)} s after its network came back (lists=${inf.stats.lists}, expired=${inf.stats.expired}, errors=${inf.stats.errors})`,
      );
    } finally {
      await inf.stop();
      closeConnections(pkc);
      await proxy.close();
    }
  });

  it.runIf(clusterInfo?.canRestart)('re-lists after a real 410 from the watch cache and ends with an exact cache', async () => {
    // GIVEN an informer that reaches the apiserver through a proxy the test can cut
    const ns = await testCluster().freshNamespace('inf-gone');
    for (const name of ['change', 'gone', 'keep']) await createObject(kc, RESOURCES.configMap, cm(ns, name, 'one'));
    const proxy = await startProxy(new URL(testCluster().server));
    const pkc = freshKubeConfig(proxy.url);
    const { lines, log } = logs();
    const inf = track(new Informer<ConfigMap>(pkc, RESOURCES.configMap, { namespace: ns, backoff: { initialMs: 50, maxMs: 500 }, log }));
    const seen = record(inf);
    try {
      await inf.start();
      await waitFor(() => inf.stats.watches >= 1, { message: 'watch open' });

      // WHEN its network is cut, so it stays at an old resourceVersion ...
      const errorsBefore = inf.stats.errors;
      proxy.cut();
      await waitFor(() => inf.stats.errors > errorsBefore, { message: 'the informer noticed the cut' });
      const staleRv = inf.resourceVersion;
      // ... objects change meanwhile (each write moves etcd's revision past staleRv) ...
      const change = inf.getByKey(`${ns}/change`)!;
      await replaceObject(kc, RESOURCES.configMap, { ...change, data: { step: 'two' } });
      await deleteObject(kc, RESOURCES.configMap, ns, 'gone');
      await createObject(kc, RESOURCES.configMap, cm(ns, 'new', 'one'));
      // ... and the apiserver restarts: its new watch cache starts at etcd's current revision and holds
      // no history before it, so a watch from staleRv is answered 410 "too old resource version"
      await testCluster().restartApiServer();
      const gone = await waitFor(
        async () => {
          try {
            await watchStream(kc, `/api/v1/namespaces/${ns}/configmaps`, () => {}, { query: { resourceVersion: staleRv, timeoutSeconds: 1 } });
            return false;
          } catch (err) {
            if (isKubeError(err, 410)) return err;
            throw err; // 429 while the watch cache initializes: try again
          }
        },
        { timeoutMs: 20_000, message: 'the server answers 410 for the stale resourceVersion' },
      );
      expect([gone.code, gone.reason]).toStrictEqual([410, 'Expired']);
      expect(gone.message).toMatch(/too old resource version/);
      proxy.restore();

      // THEN the informer gets the same 410, re-lists, and emits exactly the differences
      await waitFor(() => inf.stats.expired >= 1 && JSON.stringify(contents(inf)) === JSON.stringify({ change: 'two', keep: 'one', new: 'one' }), {
        timeoutMs: 30_000,
        message: 're-listed after 410',
      });
      expect(seen.slice(3)).toStrictEqual([
        ['delete', 'gone', 'one'],
        ['update', 'change', 'two'],
        ['add', 'new', 'one'],
      ]);
      expect(lines.some(([, m]) => m.includes(`resourceVersion ${staleRv} expired`))).toBe(true);

      // and it keeps watching from the new list
      await createObject(kc, RESOURCES.configMap, cm(ns, 'after', 'one'));
      await waitFor(() => inf.get(ns, 'after'), { message: 'watching again' });
    } finally {
      await inf.stop();
      closeConnections(pkc);
      await proxy.close();
    }
  });

  it('waits for a CRD that is not installed, without throwing, and syncs once it appears (and drops it when it goes)', async () => {
    // GIVEN a resource whose CRD does not exist
    const group = `w${Math.random().toString(36).slice(2, 8)}.llmstack.dev`;
    const widgets: ResourceType = { group, version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };
    const crdType: ResourceType = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false };
    const ns = await testCluster().freshNamespace('inf-crd');
    const ikc = freshKubeConfig();
    const discoveries: RequestRecord[] = [];
    onRequest(ikc, (r) => r.path === `/apis/${group}/v1` && discoveries.push(r));
    const { lines, log } = logs();
    const inf = track(new Informer(ikc, widgets, { availabilityCheckMs: 200, log }));
    const names: string[] = [];
    inf.on('add', (o) => names.push(`add ${o.metadata.name}`));
    inf.on('delete', (o) => names.push(`delete ${o.metadata.name}`));

    // WHEN it starts: start() resolves, the informer says unavailable, logs that once, and keeps looking
    await inf.start();
    expect([inf.available, inf.synced]).toStrictEqual([false, false]);
    await waitFor(() => discoveries.length >= 4, { message: 'repeated discovery checks' });
    expect(discoveries.every((d) => d.code === 404)).toBe(true);
    expect(lines.filter(([l]) => l === 'warn')).toStrictEqual([
      ['warn', `informer widgets.${group}: not served (its group version or resource is not in discovery; is its CRD installed?); checking again every 200 ms`],
    ]);

    // AND WHEN the CRD is created, with an object
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { kind: 'Widget', listKind: 'WidgetList', plural: 'widgets', singular: 'widget' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    };
    try {
      await applyObject(kc, crd, 'llmstack-test', { resource: crdType });
      const widget = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1', namespace: ns } };
      await waitFor(async () => createObject(kc, widgets, widget), { message: 'CRD served' });

      // THEN the informer becomes available and syncs
      await waitFor(() => inf.available && inf.synced && inf.get(ns, 'w1'), { message: 'informer synced after the CRD appeared' });
      expect(names).toStrictEqual(['add w1']);
      expect(lines.at(-1)).toStrictEqual(['info', `informer widgets.${group}: the resource is served now; syncing`]);
    } finally {
      // AND WHEN the CRD is deleted, the informer drops its objects and waits again
      await deleteObject(kc, crdType, undefined, `widgets.${group}`);
    }
    await waitFor(() => !inf.available, { timeoutMs: 20_000, message: 'unavailable after the CRD was deleted' });
    expect(names).toStrictEqual(['add w1', 'delete w1']);
    expect(inf.list()).toStrictEqual([]);
    await inf.stop();
    closeConnections(ikc);
  });

  it('takes the scope of a resource from discovery (Rancher management Cluster: namespaced in the test CRD)', async () => {
    const ns = await testCluster().freshNamespace('inf-scope');
    await createObject(kc, { ...RESOURCES.rancherCluster, namespaced: true }, {
      apiVersion: 'management.cattle.io/v3',
      kind: 'Cluster',
      metadata: { name: 'c-test1', namespace: ns },
      spec: { displayName: 'one' },
    });
    const inf = track(new Informer(kc, RESOURCES.rancherCluster));
    expect(inf.resource.namespaced).toBe(false); // llmstack's descriptor: real Rancher's scope
    await inf.start();
    expect(inf.resource.namespaced).toBe(true);
    expect(inf.get(ns, 'c-test1')?.metadata.name).toBe('c-test1');
    await inf.stop();
  });
});
