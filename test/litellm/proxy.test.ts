// The real LiteLLM proxy (PyPI, the version the shipped image carries) with the config.yaml llmstack
// renders for each cluster of each example, in front of fake Ollama servers: a caller without the
// master key is refused, and with it a chat completion reaches the Ollama the cluster routes to (its
// own, or over HTTPS with the endpoint key, the model cluster's).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import { ollamaTag, litellmModels } from '../../src/render/apps/litellm.js';
import { OLLAMA_URL } from '../../src/render/apps/ollama.js';
import { clusterNamespace } from '../../src/render/cluster.js';
import { renderStack } from '../../src/render/index.js';
import { endpointKeyRef, masterKeyRef } from '../../src/render/secrets.js';
import { loadSpec } from '../../src/spec/load.js';
import type { Cluster, Stack } from '../../src/spec/schema.js';
import { fakeAnswer, startFakeOllama, type FakeOllama } from '../support/fake-ollama.js';
import { deployedBundle, renderedClusterLabels } from '../support/fleet-deploy.js';
import { defaultLitellmImage, ensureLitellm, litellmPypiVersion, startLitellm } from '../support/litellm.js';
import { repoRoot } from '../support/paths.js';
import { makeServingCertificate, type ServingCertificate } from '../support/tls.js';

const execFileP = promisify(execFile);
const EXAMPLES = ['quickstart', 'caapf', 'gpu-scale-from-zero', 'three-clusters'];

let tmp: string;
let tls: { key: string; cert: string; caFile: string };

beforeAll(async () => {
  // The first run installs LiteLLM (about a minute); later runs find it cached.
  await ensureLitellm();
  tmp = mkdtempSync(path.join(os.tmpdir(), `llmstack-litellm-${process.pid}-tls-`));
  tls = await testCertificate(tmp);
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the LiteLLM version under test', () => {
  it('is the PyPI release inside the image the spec pins', async () => {
    const image = defaultLitellmImage();
    expect(image).toMatch(/^ghcr\.io\/berriai\/litellm:main-v\d+\.\d+\.\d+-stable$/);
    const version = litellmPypiVersion(image);
    const venv = await ensureLitellm();
    const { stdout } = await execFileP(path.join(venv, 'bin/python'), ['-c', 'import importlib.metadata as m; print(m.version("litellm"))']);
    expect(stdout.trim()).toBe(version);
    expect(() => litellmPypiVersion('ghcr.io/berriai/litellm:latest')).toThrow(/main-vX\.Y\.Z/);
  });
});

interface ClusterCase {
  stack: Stack;
  cluster: Cluster;
  config: Record<string, unknown>;
  env: { name: string; secret: string; key: string }[];
  delivered: string[];
}

async function clusterCases(example: string): Promise<ClusterCase[]> {
  const catalog = await loadCatalog();
  const stack = await loadSpec(path.join(repoRoot, 'examples', `${example}.yaml`), catalog);
  const { files } = renderStack(stack, catalog);
  const out: ClusterCase[] = [];
  for (const cluster of stack.spec.clusters.filter((c) => c.apps.includes('litellm'))) {
    const labels = renderedClusterLabels(files, clusterNamespace(stack, cluster), cluster.name);
    const litellm = deployedBundle(files, 'bundles/litellm', labels);
    if (!litellm) throw new Error(`bundle litellm does not target ${cluster.name}`);
    const docs = litellm.files.get('litellm.yaml')!;
    const cm = docs.find((d) => d.kind === 'ConfigMap') as { data: Record<string, string> };
    const deploy = docs.find((d) => d.kind === 'Deployment') as { spec: { template: { spec: { containers: { env: { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } }[] }[] } } } };
    const env = deploy.spec.template.spec.containers[0]!.env.map((e) => ({ name: e.name, secret: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key }));
    const delivered = litellm.downstreamResources.filter((r) => r.kind === 'Secret').map((r) => r.name);
    out.push({ stack, cluster, config: parse(cm.data['config.yaml']!) as Record<string, unknown>, env, delivered });
  }
  return out;
}

/** The test copy of a config: api_base hosts point at the fakes, nothing else changes. */
function pointAtFakes(config: Record<string, unknown>, hosts: Map<string, FakeOllama>): string {
  const copy = structuredClone(config) as { model_list: { litellm_params: { api_base?: string } }[] };
  for (const m of copy.model_list) {
    const base = m.litellm_params.api_base;
    if (!base) continue;
    const u = new URL(base);
    const fake = hosts.get(u.host);
    if (!fake) continue;
    u.host = `127.0.0.1:${fake.port}`;
    m.litellm_params.api_base = u.toString().replace(/\/$/, '');
  }
  return stringify(copy);
}

async function chat(url: string, route: string, model: string, key: string | undefined, prompt: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: prompt }] }),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const answerOf = (body: Record<string, unknown>) => (body.choices as { message: { content: string } }[] | undefined)?.[0]?.message.content;

describe.each(EXAMPLES)('examples/%s.yaml', (example) => {
  it('every LiteLLM refuses callers without the master key and routes each model to the Ollama its cluster reaches', async () => {
    const cases = await clusterCases(example);
    expect(cases.length).toBeGreaterThan(0);
    for (const { stack, cluster, config, env, delivered } of cases) {
      const where = `${example}: ${clusterNamespace(stack, cluster)}/${cluster.name}`;
      const modelList = (config as { model_list: { model_name: string; litellm_params: { model: string; api_base?: string; api_key?: string } }[] }).model_list;
      // GIVEN the rendered config, as written, and the Secrets its pod reads.
      expect(config.general_settings, where).toStrictEqual({ master_key: 'os.environ/LITELLM_MASTER_KEY' });
      const master = masterKeyRef(stack).secretRef;
      expect(env.find((e) => e.name === 'LITELLM_MASTER_KEY'), where).toStrictEqual({ name: 'LITELLM_MASTER_KEY', secret: master.name, key: master.key });
      // Every Secret the pod reads reaches the cluster through the bundle's downstreamResources.
      expect([...new Set(env.map((e) => e.secret))].sort(), where).toStrictEqual([...delivered].sort());

      const ollamaRoutes = litellmModels(stack.spec.apps).filter((m) => ollamaTag(m) !== undefined);
      const servers = cluster.apps.includes('ollama') ? [cluster] : stack.spec.clusters.filter((c) => c.apps.includes('ollama') && c.ollamaEndpoint);
      const expectedBases = cluster.apps.includes('ollama') ? [OLLAMA_URL] : servers.map((s) => `https://${s.ollamaEndpoint!.host}`);
      for (const m of ollamaRoutes) {
        expect(modelList.filter((e) => e.model_name === m.name).map((e) => e.litellm_params.api_base), `${where}: ${m.name}`).toStrictEqual(expectedBases);
      }

      // Secret values as `llmstack secrets` would make them: only ever in this process and LiteLLM's env.
      const values = new Map<string, string>();
      const secretValue = (name: string) => values.get(name) ?? values.set(name, `sk-${randomBytes(16).toString('hex')}`).get(name)!;
      const litellmEnv: Record<string, string> = { SSL_CERT_FILE: tls.caFile };
      for (const e of env) litellmEnv[e.name] = secretValue(e.secret);

      // One fake Ollama per host the config names; an exposed one checks its endpoint key, over HTTPS.
      const fakes = new Map<string, FakeOllama>();
      const started: FakeOllama[] = [];
      let proxy: Awaited<ReturnType<typeof startLitellm>> | undefined;
      try {
        for (const s of servers) {
          const host = cluster === s ? new URL(OLLAMA_URL).host : s.ollamaEndpoint!.host;
          const key = s.ollamaEndpoint ? secretValue(endpointKeyRef(stack, s).secretRef.name) : undefined;
          const fake = await startFakeOllama({ name: `${clusterNamespace(stack, s)}/${s.name}`, models: stack.spec.apps.ollama.models, apiKey: key, tls: host === new URL(OLLAMA_URL).host ? undefined : tls });
          started.push(fake);
          fakes.set(host, fake);
        }
        proxy = await startLitellm({ config: pointAtFakes(config, fakes), env: litellmEnv });
        const masterKey = litellmEnv.LITELLM_MASTER_KEY!;

        // WHEN a caller has no key, or a wrong one, THEN LiteLLM refuses and no Ollama hears of it.
        const first = ollamaRoutes[0]?.name ?? modelList[0]!.model_name;
        const anonymous = await chat(proxy.url, '/v1/chat/completions', first, undefined, 'hello');
        expect(anonymous.status, where).toBe(401);
        const wrong = await chat(proxy.url, '/chat/completions', first, 'sk-not-the-master-key', 'hello');
        expect(wrong.status, where).toBeGreaterThanOrEqual(400);
        expect(wrong.status, where).toBeLessThan(500);
        expect(started.flatMap((f) => f.completions()), where).toStrictEqual([]);

        // WHEN a caller has the master key, THEN each Ollama model answers from the Ollama the cluster routes to.
        for (const m of ollamaRoutes) {
          for (const route of ['/v1/chat/completions', '/chat/completions']) {
            const prompt = `${m.name} via ${route}`;
            const r = await chat(proxy.url, route, m.name, masterKey, prompt);
            expect(r.status, `${where}: ${m.name} ${route}: ${JSON.stringify(r.body)}\n${proxy.log().slice(-3000)}`).toBe(200);
            const answer = answerOf(r.body);
            expect(servers.map((s) => fakeAnswer(`${clusterNamespace(stack, s)}/${s.name}`, ollamaTag(m)!, prompt)), where).toContain(answer);
          }
        }
        for (const s of servers) {
          const fake = fakes.get(cluster === s ? new URL(OLLAMA_URL).host : s.ollamaEndpoint!.host)!;
          const heard = fake.completions();
          if (ollamaRoutes.length > 0 && servers.length === 1) expect(heard.length, where).toBe(ollamaRoutes.length * 2);
          if (s.ollamaEndpoint) {
            // The endpoint key, never the master key, goes to the model cluster.
            const key = values.get(endpointKeyRef(stack, s).secretRef.name);
            expect(new Set(heard.map((h) => h.authorization)), where).toStrictEqual(new Set(heard.length ? [`Bearer ${key}`] : []));
            expect(fake.requests.filter((h) => h.status === 401), where).toStrictEqual([]);
          }
        }
      } finally {
        await proxy?.stop();
        await Promise.all(started.map((f) => f.stop()));
      }
    }
  }, 300_000);
});

describe('the fake Ollama standing for an exposed cluster', () => {
  it('answers only requests with its key, over TLS a client verifies with the test CA', async () => {
    const fake = await startFakeOllama({ name: 'm', models: ['a:1b'], apiKey: 'k', tls });
    try {
      const body = JSON.stringify({ model: 'a:1b', messages: [{ role: 'user', content: 'hi' }] });
      expect(await httpsPost(fake.url, '/api/chat', body, undefined)).toBe(401);
      expect(await httpsPost(fake.url, '/api/chat', body, 'Bearer wrong')).toBe(401);
      expect(await httpsPost(fake.url, '/api/chat', body, 'Bearer k')).toBe(200);
      expect(fake.completions().map((r) => r.authorization)).toStrictEqual(['Bearer k']);
    } finally {
      await fake.stop();
    }
  });
});

function httpsPost(base: string, p: string, body: string, authorization: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}${p}`, { method: 'POST', ca: readFileSync(tls.caFile), headers: { 'Content-Type': 'application/json', ...(authorization ? { Authorization: authorization } : {}) }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A CA and a certificate for 127.0.0.1 signed by it, so LiteLLM verifies TLS as usual. */
function testCertificate(dir: string): Promise<ServingCertificate> {
  return makeServingCertificate(dir, { caSubject: 'llmstack test CA', commonName: '127.0.0.1', sans: ['IP:127.0.0.1'] });
}
