// Kubeconfig loading: static credentials read here (files relative to the kubeconfig, inline data, token
// files, several files merged first-wins, the pod's service account), plugins handed to client-node, and
// errors that name the file and the field.
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeConfigError, loadKubeClientConfig, StaticKubeConfig } from '../../src/kube/config.js';
import { closeConnections, kubeRequest } from '../../src/kube/http.js';

let dir: string;
const nowhere = () => ({ env: {}, home: join(dir, 'no-home'), serviceAccountDir: join(dir, 'no-sa') });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'llmstack-kubeconfig-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, doc: Record<string, unknown>): string {
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, dump(doc));
  return file;
}

function config(opts: { cluster?: Record<string, unknown>; user?: Record<string, unknown>; current?: string; name?: string } = {}): Record<string, unknown> {
  const name = opts.name ?? 'dev';
  return {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': opts.current ?? name,
    clusters: [{ name, cluster: { server: `https://${name}.example:6443`, ...opts.cluster } }],
    users: [{ name, user: opts.user ?? {} }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: 'team-a' } }],
  };
}

async function requestOptions(kc: { applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }): Promise<https.RequestOptions & { headers: Record<string, string> }> {
  const opts: https.RequestOptions = { headers: {} };
  await kc.applyToHTTPSOptions(opts);
  return opts as https.RequestOptions & { headers: Record<string, string> };
}

describe('kubeconfig files', () => {
  it('reads the CA and client certificate from files relative to the kubeconfig, and inline data', async () => {
    mkdirSync(join(dir, 'rel', 'pki'), { recursive: true });
    writeFileSync(join(dir, 'rel', 'pki', 'ca.crt'), 'CA-BYTES');
    writeFileSync(join(dir, 'rel', 'pki', 'client.crt'), 'CERT-BYTES');
    const file = kubeconfig('rel/config', config({
      cluster: { 'certificate-authority': 'pki/ca.crt', 'tls-server-name': 'kubernetes' },
      user: { 'client-certificate': 'pki/client.crt', 'client-key-data': Buffer.from('KEY-BYTES').toString('base64') },
    }));
    const kc = await loadKubeClientConfig({ file }, nowhere());
    expect(kc).toBeInstanceOf(StaticKubeConfig);
    expect(kc.getCurrentCluster()?.server).toBe('https://dev.example:6443');
    expect((kc as StaticKubeConfig).namespace).toBe('team-a');
    const o = await requestOptions(kc);
    expect(String(o.ca)).toBe('CA-BYTES');
    expect(String(o.cert)).toBe('CERT-BYTES');
    expect(String(o.key)).toBe('KEY-BYTES');
    expect(o.servername).toBe('kubernetes');
    expect(o.rejectUnauthorized).toBeUndefined();
    expect(o.headers['Authorization']).toBeUndefined();
  });

  it('sends a token, a token file read again after a minute, or basic auth, and honours insecure-skip-tls-verify', async () => {
    const token = await loadKubeClientConfig({ file: kubeconfig('token', config({ user: { token: 'abc' }, cluster: { 'insecure-skip-tls-verify': true } })) }, nowhere());
    const t = await requestOptions(token);
    expect(t.headers['Authorization']).toBe('Bearer abc');
    expect(t.rejectUnauthorized).toBe(false);

    writeFileSync(join(dir, 'sa-token'), 'first\n');
    const fromFile = await loadKubeClientConfig({ file: kubeconfig('token-file', config({ user: { tokenFile: 'sa-token' } })) }, nowhere());
    expect((await requestOptions(fromFile)).headers['Authorization']).toBe('Bearer first');
    writeFileSync(join(dir, 'sa-token'), 'second\n');
    // Within the minute the cached token stays; the file is read again after it.
    expect((await requestOptions(fromFile)).headers['Authorization']).toBe('Bearer first');
    const later = performance.now() + 61_000;
    const clock = vi.spyOn(performance, 'now').mockReturnValue(later);
    try {
      expect((await requestOptions(fromFile)).headers['Authorization']).toBe('Bearer second');
    } finally {
      clock.mockRestore();
    }

    const basic = await loadKubeClientConfig({ file: kubeconfig('basic', config({ user: { username: 'admin', password: 's3cret' } })) }, nowhere());
    expect((await requestOptions(basic)).headers['Authorization']).toBe(`Basic ${Buffer.from('admin:s3cret').toString('base64')}`);
  });

  it('merges several KUBECONFIG files the way kubectl does: the first to name something wins', async () => {
    const a = kubeconfig('merge/a', { 'current-context': 'prod', clusters: [{ name: 'prod', cluster: { server: 'https://a.example' } }], users: [], contexts: [] });
    const b = kubeconfig('merge/b', {
      'current-context': 'other',
      clusters: [{ name: 'prod', cluster: { server: 'https://b.example' } }],
      users: [{ name: 'ops', user: { token: 'from-b' } }],
      contexts: [{ name: 'prod', context: { cluster: 'prod', user: 'ops' } }],
    });
    const kc = await loadKubeClientConfig({}, { ...nowhere(), env: { KUBECONFIG: [a, join(dir, 'merge', 'missing'), b].join(delimiter) } });
    expect(kc.getCurrentCluster()?.server).toBe('https://a.example');
    expect((await requestOptions(kc)).headers['Authorization']).toBe('Bearer from-b');
  });

  it('falls back to ~/.kube/config, then to the pod service account', async () => {
    const home = join(dir, 'home');
    kubeconfig('home/.kube/config', config({ name: 'laptop' }));
    expect((await loadKubeClientConfig({}, { ...nowhere(), home })).getCurrentCluster()?.server).toBe('https://laptop.example:6443');

    const sa = join(dir, 'serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'pod-token');
    writeFileSync(join(sa, 'ca.crt'), 'CLUSTER-CA');
    writeFileSync(join(sa, 'namespace'), 'llmstack-system\n');
    const pod = await loadKubeClientConfig({}, { ...nowhere(), env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: sa });
    expect(pod.getCurrentCluster()?.server).toBe('https://[fd00::1]:443');
    expect((pod as StaticKubeConfig).namespace).toBe('llmstack-system');
    const o = await requestOptions(pod);
    expect(String(o.ca)).toBe('CLUSTER-CA');
    expect(o.headers['Authorization']).toBe('Bearer pod-token');

    await expect(loadKubeClientConfig({}, nowhere())).rejects.toThrow(/no kubeconfig found/);
  });

  it('hands credential plugins and proxies to client-node', async () => {
    const exec = { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws', args: ['eks', 'get-token'] };
    const plugin = await loadKubeClientConfig({ file: kubeconfig('exec', config({ user: { exec } })) }, nowhere());
    expect(plugin).toBeInstanceOf(KubeConfig);
    expect(plugin.getCurrentCluster()?.server).toBe('https://dev.example:6443');
    const proxied = await loadKubeClientConfig({ text: dump(config({ cluster: { 'proxy-url': 'http://proxy.example:3128' }, user: { token: 'x' } })), origin: 'Secret team-a/c1-kubeconfig' });
    expect(proxied).toBeInstanceOf(KubeConfig);
    expect(proxied.getCurrentCluster()?.proxyUrl).toBe('http://proxy.example:3128');
  });

  it('names the file and the field of what is wrong', async () => {
    const cases: [Record<string, unknown> | string, RegExp][] = [
      [{ ...config(), 'current-context': '' }, /bad-0: current-context is not set/],
      [config({ current: 'nope' }), /bad-1: current-context "nope" is not in contexts/],
      [{ ...config(), clusters: [] }, /bad-2: contexts\["dev"\]\.context\.cluster "dev" is not in clusters/],
      [{ ...config(), users: [] }, /bad-3: contexts\["dev"\]\.context\.user "dev" is not in users/],
      [config({ cluster: { server: '' } }), /bad-4: clusters\["dev"\]\.cluster\.server is not set/],
      [config({ cluster: { 'certificate-authority': 'missing.crt' } }), /bad-5: clusters\["dev"\]\.cluster\.certificate-authority: cannot read .*missing\.crt: no such file/],
      [config({ user: { 'client-certificate-data': 'Zm9v' } }), /bad-6: users\["dev"\]\.user: a client certificate needs its key/],
      ['clusters: {a: 1}', /bad-7: clusters must be a list/],
      ['{ not yaml', /bad-8: not valid YAML/],
      ['- a\n- b\n', /bad-9: not a kubeconfig/],
    ];
    for (const [i, [doc, message]] of cases.entries()) {
      const file = join(dir, `bad-${i}`);
      writeFileSync(file, typeof doc === 'string' ? doc : dump(doc));
      const err = await loadKubeClientConfig({ file }, nowhere()).catch((e: unknown) => e);
      expect(err, `case ${i}`).toBeInstanceOf(KubeConfigError);
      expect((err as Error).message, `case ${i}`).toMatch(message);
    }
    await expect(loadKubeClientConfig({ file: join(dir, 'absent') }, nowhere())).rejects.toThrow(/cannot read .*absent: no such file/);
  });
});

describe('requests with a static kubeconfig', () => {
  let server: http.Server;
  let url: string;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Namespace', metadata: { name: 'default' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the credentials on every request through the shared HTTP layer', async () => {
    const kc = await loadKubeClientConfig({ text: dump(config({ cluster: { server: url }, user: { token: 'tok' } })), origin: 'inline' });
    const ns = await kubeRequest<{ metadata: { name: string } }>(kc, 'GET', '/api/v1/namespaces/default');
    await kubeRequest(kc, 'GET', '/api/v1/namespaces/default');
    closeConnections(kc);
    expect(ns.metadata.name).toBe('default');
    expect(seen).toStrictEqual(['Bearer tok', 'Bearer tok']);
  });
});
