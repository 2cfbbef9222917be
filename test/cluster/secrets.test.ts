// `llmstack secrets` against a real API server: it makes the keys llmstack owns once, in every
// namespace Fleet copies them from, with one value per Secret; it names the Secrets the user must
// provide; a second run writes nothing; --check writes nothing at all; no value is ever printed.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import { ensureSecrets, formatSecrets } from '../../src/cli/secrets.js';
import { missingBundleSecrets, statusCommand } from '../../src/cli/status.js';
import { kubeRequest, onRequest, WRITE_VERBS, type RequestRecord } from '../../src/kube/http.js';
import { apiPath, RESOURCES } from '../../src/kube/resources.js';
import { parseSpec } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/schema.js';
import { describeCluster, testCluster } from '../support/cluster.js';

describeCluster('llmstack secrets', () => {
  let gw: string;
  let models: string;
  let stack: Stack;

  beforeAll(async () => {
    const t = testCluster();
    gw = await t.freshNamespace('secrets-gw');
    models = await t.freshNamespace('secrets-models');
    // CAAPF: each cluster's Bundles live in the cluster's own namespace, so shared keys are needed in both.
    stack = parseSpec(
      `apiVersion: llmstack.dev/v1alpha1
kind: Stack
metadata: {name: sec}
spec:
  import: {strategy: caapf}
  clusters:
    - {name: gateway, namespace: ${gw}, class: docker-llm, apps: [litellm, openwebui]}
    - {name: models, namespace: ${models}, class: docker-llm, apps: [ollama], ollamaEndpoint: {host: ollama.models.example.test, tlsSecret: models-tls}}
  apps:
    litellm:
      models:
        - {name: qwen, model: ollama/qwen2.5:0.5b}
        - {name: gpt, model: openai/gpt-4o-mini, apiKey: {secretRef: {name: openai, key: api-key}}}
`,
      'sec.yaml',
      await loadCatalog(),
    );
  });

  afterAll(async () => {
    const kc = testCluster().kubeConfig;
    for (const ns of [gw, models]) if (ns) await kubeRequest(kc, 'DELETE', apiPath(RESOURCES.namespace, undefined, ns)).catch(() => undefined);
  });

  const secret = (ns: string, name: string) => kubeRequest<{ data: Record<string, string>; metadata: { labels: Record<string, string> } }>(testCluster().kubeConfig, 'GET', apiPath(RESOURCES.secret, ns, name));
  const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

  it('--check reports every Secret as missing and writes nothing', async () => {
    const kc = testCluster().kubeConfig;
    const writes: RequestRecord[] = [];
    const off = onRequest(kc, (r) => WRITE_VERBS.has(r.verb) && writes.push(r));
    try {
      const reports = await ensureSecrets(kc, stack, true);
      expect(reports.map((r) => `${r.namespace}/${r.name} ${r.state} ${r.origin}`)).toStrictEqual([
        `${gw}/openai missing user`,
        `${gw}/sec-litellm-master-key missing generated`,
        `${gw}/sec-${models}-models-ollama-key missing generated`,
        `${models}/models-tls missing user`,
        `${models}/sec-${models}-models-ollama-key missing generated`,
      ]);
    } finally {
      off();
    }
    expect(writes).toStrictEqual([]);
  });

  it('makes the generated keys once, one value across namespaces, and names what the user must create', async () => {
    const kc = testCluster().kubeConfig;
    const reports = await ensureSecrets(kc, stack, false);
    expect(reports.map((r) => `${r.namespace}/${r.name} ${r.state}`)).toStrictEqual([
      `${gw}/openai missing`,
      `${gw}/sec-litellm-master-key created`,
      `${gw}/sec-${models}-models-ollama-key created`,
      `${models}/models-tls missing`,
      `${models}/sec-${models}-models-ollama-key created`,
    ]);
    expect(reports.find((r) => r.name === 'openai')?.fix).toBe(`kubectl -n ${gw} create secret generic openai --from-literal=api-key=VALUE`);
    expect(reports.find((r) => r.name === 'models-tls')?.fix).toBe(`kubectl -n ${models} create secret tls models-tls --cert=FILE.crt --key=FILE.key`);

    const master = await secret(gw, 'sec-litellm-master-key');
    expect(decode(master.data['master-key']!)).toMatch(/^sk-[0-9a-f]{64}$/);
    expect(master.metadata.labels).toStrictEqual({ 'llmstack.dev/stack': 'sec', 'app.kubernetes.io/managed-by': 'llmstack' });
    const keyGw = await secret(gw, `sec-${models}-models-ollama-key`);
    const keyModels = await secret(models, `sec-${models}-models-ollama-key`);
    // The gateway presents exactly the key the model cluster checks.
    expect(keyGw.data['api-key']).toBe(keyModels.data['api-key']);
    expect(keyGw.data['api-key']).not.toBe(master.data['master-key']);

    // Nothing printed carries a value.
    const text = formatSecrets(reports);
    for (const v of [master.data['master-key']!, keyGw.data['api-key']!]) {
      expect(text).not.toContain(decode(v));
      expect(text).not.toContain(v);
    }
  });

  it('a second run writes nothing and keeps the values; a Secret made by the user counts as present', async () => {
    const kc = testCluster().kubeConfig;
    await kubeRequest(kc, 'POST', apiPath(RESOURCES.secret, gw), { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'openai' }, stringData: { 'api-key': 'sk-user' } } });
    const before = (await secret(gw, 'sec-litellm-master-key')).data['master-key'];
    const writes: RequestRecord[] = [];
    const off = onRequest(kc, (r) => WRITE_VERBS.has(r.verb) && writes.push(r));
    let reports;
    try {
      reports = await ensureSecrets(kc, stack, false);
    } finally {
      off();
    }
    expect(writes).toStrictEqual([]);
    expect(reports.map((r) => `${r.name} ${r.state}`)).toStrictEqual([
      'openai present',
      'sec-litellm-master-key present',
      `sec-${models}-models-ollama-key present`,
      'models-tls missing',
      `sec-${models}-models-ollama-key present`,
    ]);
    expect((await secret(gw, 'sec-litellm-master-key')).data['master-key']).toBe(before);
  });

  it('a copy lost in one namespace is made again with the value the other namespace has', async () => {
    const kc = testCluster().kubeConfig;
    const name = `sec-${models}-models-ollama-key`;
    const kept = (await secret(models, name)).data['api-key'];
    await kubeRequest(kc, 'DELETE', apiPath(RESOURCES.secret, gw, name));
    const reports = await ensureSecrets(kc, stack, false);
    expect(reports.find((r) => r.namespace === gw && r.name === name)?.state).toBe('created');
    expect((await secret(gw, name)).data['api-key']).toBe(kept);
  });

  it('llmstack status names the Secrets llmstack Bundles need that are not there', async () => {
    const t = testCluster();
    const kc = t.kubeConfig;
    const ns = await t.freshNamespace('secrets-status');
    await kubeRequest(kc, 'POST', apiPath(RESOURCES.secret, ns), { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'here' }, stringData: { k: 'v' } } });
    // Bundles as `fleet apply` makes them from a rendered fleet.yaml: downstreamResources bundle-wide and per target.
    const bundle = (name: string, spec: Record<string, unknown>) => ({
      apiVersion: 'fleet.cattle.io/v1alpha1',
      kind: 'Bundle',
      metadata: { name, namespace: ns, labels: { 'llmstack.dev/stack': 'sec', 'llmstack.dev/bundle': name } },
      spec,
    });
    await kubeRequest(kc, 'POST', apiPath(RESOURCES.fleetBundle, ns), {
      body: bundle('litellm', { defaultNamespace: 'llm', downstreamResources: [{ kind: 'Secret', name: 'here' }, { kind: 'Secret', name: 'gone' }], targets: [{ name: 'gw', downstreamResources: [{ kind: 'Secret', name: 'also-gone' }] }] }),
    });
    await kubeRequest(kc, 'POST', apiPath(RESOURCES.fleetBundle, ns), { body: bundle('openwebui', { defaultNamespace: 'llm', downstreamResources: [{ kind: 'Secret', name: 'gone' }] }) });

    // The shared API server has no namespace controller: the Bundles are deleted here so that other
    // files' `llmstack status` tables never list these Secrets.
    try {
      const missing = await missingBundleSecrets(kc);
      expect(Array.isArray(missing)).toBe(true);
      expect((missing as { namespace: string }[]).filter((m) => m.namespace === ns)).toStrictEqual([
        { namespace: ns, name: 'also-gone', bundles: [`${ns}/litellm`] },
        { namespace: ns, name: 'gone', bundles: [`${ns}/litellm`, `${ns}/openwebui`] },
      ]);
      const out: string[] = [];
      const code = await statusCommand({ kubeconfig: t.kubeconfigPath, namespace: ns }, (s) => out.push(s));
      expect(code).toBe(4);
      expect(out.join('\n')).toContain(`missing Secrets (Fleet cannot deliver these bundles until they exist;`);
      expect(out.join('\n')).toContain(`  ${ns}/gone (needed by ${ns}/litellm, ${ns}/openwebui)`);
      expect(out.join('\n')).not.toContain(`${ns}/here`);
    } finally {
      for (const b of ['litellm', 'openwebui']) await kubeRequest(kc, 'DELETE', apiPath(RESOURCES.fleetBundle, ns, b)).catch(() => undefined);
    }
    await kubeRequest(kc, 'DELETE', apiPath(RESOURCES.namespace, undefined, ns));
  });
});
