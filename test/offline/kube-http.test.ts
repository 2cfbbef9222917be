// The pure parts of src/kube (paths, verbs, backoff, equality, times) and the HTTP layer against a tiny
// local server that answers the way kube-apiserver does, including the awkward cases a real one rarely
// shows on demand (events split across chunks, a stream cut mid-event, plain-text errors).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/kube/backoff.js';
import { closeConnections, describePath, KubeError, kubeRequest, onRequest, watchStream, type RequestRecord, type WatchEvent } from '../../src/kube/http.js';
import { microTime } from '../../src/kube/lease.js';
import { apiPath, keyOf, knownResource, objectKey, RESOURCES, splitKey } from '../../src/kube/resources.js';
import { jsonEqual, mergePatchOf } from '../../src/kube/write.js';

describe('resource paths and keys', () => {
  it('builds collection, object and subresource paths for core, grouped, namespaced and cluster-scoped kinds', () => {
    expect(apiPath(RESOURCES.configMap, 'ns1')).toBe('/api/v1/namespaces/ns1/configmaps');
    expect(apiPath(RESOURCES.configMap)).toBe('/api/v1/configmaps');
    expect(apiPath(RESOURCES.namespace, undefined, 'ns1')).toBe('/api/v1/namespaces/ns1');
    expect(apiPath(RESOURCES.llmCluster, 'ns1', 'demo', 'status')).toBe('/apis/llmstack.dev/v1alpha1/namespaces/ns1/llmclusters/demo/status');
    expect(apiPath(RESOURCES.rancherCluster, 'ignored', 'c-abc')).toBe('/apis/management.cattle.io/v3/clusters/c-abc');
    expect(apiPath(RESOURCES.capiCluster, 'a b', 'x')).toBe('/apis/cluster.x-k8s.io/v1beta2/namespaces/a%20b/clusters/x');
    expect(() => apiPath(RESOURCES.configMap, 'ns', '')).toThrow(/empty name/);
  });

  it('keys objects as namespace/name, or name when cluster-scoped', () => {
    expect(objectKey({ metadata: { name: 'a', namespace: 'n' } })).toBe('n/a');
    expect(keyOf(undefined, 'a')).toBe('a');
    expect(splitKey('n/a')).toStrictEqual({ namespace: 'n', name: 'a' });
    expect(splitKey('a')).toStrictEqual({ namespace: undefined, name: 'a' });
    expect(knownResource('fleet.cattle.io/v1alpha1', 'Cluster')).toBe(RESOURCES.fleetCluster);
    expect(knownResource('cluster.x-k8s.io/v1beta2', 'Cluster')).toBe(RESOURCES.capiCluster);
  });

  it('names the verb of a request the way the apiserver does', () => {
    expect(describePath('GET', '/api/v1/namespaces/n/configmaps')).toStrictEqual({ verb: 'list', resource: 'configmaps' });
    expect(describePath('GET', '/api/v1/namespaces/n/configmaps', { watch: 'true' })).toStrictEqual({ verb: 'watch', resource: 'configmaps' });
    expect(describePath('GET', '/api/v1/namespaces/n')).toStrictEqual({ verb: 'get', resource: 'namespaces' });
    expect(describePath('GET', '/api/v1/namespaces')).toStrictEqual({ verb: 'list', resource: 'namespaces' });
    expect(describePath('PATCH', '/apis/llmstack.dev/v1alpha1/namespaces/n/llmclusters/x/status')).toStrictEqual({ verb: 'patch', resource: 'llmclusters/status' });
    expect(describePath('DELETE', '/api/v1/namespaces/n/events')).toStrictEqual({ verb: 'deletecollection', resource: 'events' });
    expect(describePath('PUT', '/apis/coordination.k8s.io/v1/namespaces/n/leases/l')).toStrictEqual({ verb: 'update', resource: 'leases' });
    expect(describePath('GET', '/apis/fleet.cattle.io/v1alpha1')).toStrictEqual({ verb: 'get', resource: '' });
  });
});

describe('small helpers', () => {
  it('backs off exponentially with jitter inside [half, all] of the capped delay', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const capped = Math.min(30_000, 200 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt);
        expect(d).toBeGreaterThanOrEqual(capped / 2);
        expect(d).toBeLessThanOrEqual(capped);
      }
    }
    expect(backoffDelay(100, { initialMs: 10, maxMs: 40 })).toBeLessThanOrEqual(40);
  });

  it('computes the JSON merge patch between two statuses: changes only, removals as null, arrays whole', () => {
    const from = { phase: 'Deploying', message: 'x', bundles: { ready: 1, total: 2, items: [{ name: 'a' }, { name: 'b' }] }, nodes: { ready: 1 } };
    expect(mergePatchOf(from, structuredClone(from))).toBeUndefined();
    expect(mergePatchOf(from, { ...from, message: undefined, bundles: { ...from.bundles, items: [{ name: 'a' }] } })).toStrictEqual({ message: null, bundles: { items: [{ name: 'a' }] } });
    expect(mergePatchOf({}, { phase: 'Ready' })).toStrictEqual({ phase: 'Ready' });
    expect(mergePatchOf(from, { phase: 'Ready' })).toStrictEqual({ phase: 'Ready', message: null, bundles: null, nodes: null });
  });

  it('compares JSON ignoring key order and undefined members', () => {
    expect(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1, x: undefined }, { a: 1 })).toBe(true);
    expect(jsonEqual({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(jsonEqual(undefined, {})).toBe(false);
  });

  it('writes MicroTime with six fractional digits', () => {
    expect(microTime(new Date('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02T03:04:05.678000Z');
  });
});

describe('HTTP layer against a local server', () => {
  let server: http.Server;
  let kc: KubeConfig;
  let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = () => {};

  beforeAll(async () => {
    server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'local', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'secret-token' }],
      contexts: [{ name: 'c', cluster: 'local', user: 'u' }],
      currentContext: 'c',
    });
  });

  afterAll(async () => {
    closeConnections(kc);
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const events = (list: unknown[]) => list.map((e) => JSON.stringify(e) + '\n').join('');

  it('sends JSON with the kubeconfig credentials and returns the parsed answer', async () => {
    let seen: { auth?: string; type?: string; body?: string; url?: string } = {};
    handler = (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen = { auth: req.headers.authorization, type: req.headers['content-type'], body, url: req.url };
        res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"kind":"ConfigMap","metadata":{"name":"x"}}');
      });
    };
    const out = await kubeRequest(kc, 'POST', '/api/v1/namespaces/n/configmaps', { body: { a: 1 }, query: { fieldManager: 'm', dryRun: undefined } });
    expect(out).toStrictEqual({ kind: 'ConfigMap', metadata: { name: 'x' } });
    expect(seen).toStrictEqual({ auth: 'Bearer secret-token', type: 'application/json', body: '{"a":1}', url: '/api/v1/namespaces/n/configmaps?fieldManager=m' });
  });

  it('turns a Status answer and a plain-text answer into KubeError', async () => {
    handler = (_req, res) =>
      res.writeHead(403, { 'Content-Type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'no you may not' }));
    await expect(kubeRequest(kc, 'GET', '/api/v1/secrets')).rejects.toMatchObject({ name: 'KubeError', code: 403, reason: 'Forbidden', message: 'no you may not' });
    handler = (_req, res) => res.writeHead(503, { 'Retry-After': '3' }).end('upstream unavailable\n');
    const err = (await kubeRequest(kc, 'GET', '/api/v1/secrets').catch((e: unknown) => e)) as KubeError;
    expect(err).toBeInstanceOf(KubeError);
    expect([err.code, err.reason, err.message, err.details?.retryAfterSeconds]).toStrictEqual([503, 'ServiceUnavailable', 'upstream unavailable', 3]);
  });

  it('parses watch events split anywhere across chunks, and reports the watch to the hook', async () => {
    const body = events([
      { type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '1' } } },
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '5' } } },
      { type: 'DELETED', object: { metadata: { name: 'ä', resourceVersion: '6' } } },
    ]);
    handler = (req, res) => {
      expect(req.url).toMatch(/watch=true/);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const bytes = Buffer.from(body);
      // every 7 bytes, so lines and a multi-byte character are split
      let i = 0;
      const next = () => {
        if (i >= bytes.length) return res.end();
        res.write(bytes.subarray(i, (i += 7)));
        setImmediate(next);
      };
      next();
    };
    const records: RequestRecord[] = [];
    const off = onRequest(kc, (r) => records.push(r));
    const got: WatchEvent[] = [];
    let opened = false;
    await watchStream(kc, '/api/v1/namespaces/n/configmaps', (e) => got.push(e), { query: { resourceVersion: '0' }, onOpen: () => (opened = true) });
    off();
    expect(opened).toBe(true);
    expect(got.map((e) => [e.type, e.object.metadata.name, e.object.metadata.resourceVersion])).toStrictEqual([
      ['ADDED', 'a', '1'],
      ['BOOKMARK', undefined, '5'],
      ['DELETED', 'ä', '6'],
    ]);
    expect(records.map((r) => [r.verb, r.resource, r.code])).toStrictEqual([['watch', 'configmaps', 200]]);
  });

  it('rejects with the Status of an ERROR event (410 Expired) and with ConnectionError when the stream breaks', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(events([{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (9)' } }]));
    };
    await expect(watchStream(kc, '/api/v1/configmaps', () => {})).rejects.toMatchObject({ code: 410, reason: 'Expired', message: 'too old resource version: 1 (9)' });

    handler = (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(events([{ type: 'ADDED', object: { metadata: { name: 'a' } } }]));
      setTimeout(() => req.socket.destroy(), 20);
    };
    const got: string[] = [];
    await expect(watchStream(kc, '/api/v1/configmaps', (e) => got.push(e.type))).rejects.toMatchObject({ code: 0, reason: 'ConnectionError' });
    expect(got).toStrictEqual(['ADDED']);
  });

  it('ends a watch quietly when its signal aborts', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('');
    };
    const abort = new AbortController();
    const watching = watchStream(kc, '/api/v1/configmaps', () => {}, { signal: abort.signal, onOpen: () => abort.abort() });
    await expect(watching).resolves.toBeUndefined();
  });
});
