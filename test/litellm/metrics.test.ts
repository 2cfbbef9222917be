// The real LiteLLM proxy with the config.yaml llmstack renders serves Prometheus metrics where the
// rendered ServiceMonitor scrapes (its port's /metrics/ path, no credentials), and after chat
// completions its request counters show them - in the open-source build, without an Enterprise
// license, and without the error the license-gated prometheus callback would log on every request.
import { randomBytes } from 'node:crypto';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import { SERVICE_MONITORS_FILE } from '../../src/render/apps/monitoring.js';
import { OLLAMA_URL } from '../../src/render/apps/ollama.js';
import { clusterNamespace } from '../../src/render/cluster.js';
import { renderStack } from '../../src/render/index.js';
import { parseSpec } from '../../src/spec/load.js';
import { startFakeOllama } from '../support/fake-ollama.js';
import { deployedBundle, renderedClusterLabels } from '../support/fleet-deploy.js';
import { ensureLitellm, startLitellm } from '../support/litellm.js';

beforeAll(async () => {
  await ensureLitellm();
}, 600_000);

type Sample = { name: string; labels: Record<string, string>; value: number };

/** Prometheus text exposition format: one sample per line `name{labels} value`. */
function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const value = (all: Sample[], name: string) => all.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);

function rendered(monitoring: string) {
  return async () => {
    const catalog = await loadCatalog();
    const stack = parseSpec(
      `apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: metrics}\nspec:\n  clusters: [{name: one, class: docker-llm}]\n  apps:\n    monitoring: ${monitoring}\n`,
      'metrics.yaml',
      catalog,
    );
    const cluster = stack.spec.clusters[0]!;
    const { files } = renderStack(stack, catalog);
    const bundle = deployedBundle(files, 'bundles/litellm', renderedClusterLabels(files, clusterNamespace(stack, cluster), cluster.name))!;
    const docs = bundle.files.get('litellm.yaml')!;
    const cm = docs.find((d) => d.kind === 'ConfigMap') as { data: Record<string, string> };
    const template = bundle.templates.get(SERVICE_MONITORS_FILE);
    // The template's one document, without the Capabilities guard (test/cluster/service-monitors.test.ts renders it with Helm).
    const monitor = template ? (parseAllDocuments(template.split('\n').filter((l) => !l.includes('{{')).join('\n'))[0]!.toJS() as { spec: { endpoints: { port: string; path: string }[] } }) : undefined;
    return { stack, config: parse(cm.data['config.yaml']!) as { model_list: { model_name: string; litellm_params: { api_base?: string } }[] }, monitor };
  };
}

async function run(config: Record<string, unknown> & { model_list: { model_name: string; litellm_params: { api_base?: string } }[] }, models: string[]) {
  const fake = await startFakeOllama({ name: 'metrics', models });
  for (const m of config.model_list) if (m.litellm_params.api_base === OLLAMA_URL) m.litellm_params.api_base = fake.url;
  const masterKey = `sk-${randomBytes(16).toString('hex')}`;
  const proxy = await startLitellm({ config: stringify(config), env: { LITELLM_MASTER_KEY: masterKey } }).catch(async (err) => {
    await fake.stop();
    throw err;
  });
  const chat = (model: string) =>
    fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${masterKey}` },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'count me' }] }),
      signal: AbortSignal.timeout(60_000),
    });
  const scrape = async (p: string) => {
    // As Prometheus does: no credentials, no redirects followed by us (the path must be the right one).
    const res = await fetch(`${proxy.url}${p}`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text() };
  };
  return { proxy, fake, chat, scrape, stop: async () => Promise.all([proxy.stop(), fake.stop()]) };
}

describe('LiteLLM metrics as rendered', () => {
  it('serves request counters on the ServiceMonitor path that count the completions', async () => {
    const { stack, config, monitor } = await rendered('{}')();
    expect(monitor!.spec.endpoints).toHaveLength(1);
    const endpoint = monitor!.spec.endpoints[0]!;
    expect(endpoint.port).toBe('http');
    const model = config.model_list[0]!.model_name;
    const r = await run(config, stack.spec.apps.ollama.models);
    try {
      // GIVEN a fresh proxy: the path answers, and no completion has been counted
      const before = await r.scrape(endpoint.path);
      expect(before.status, r.proxy.log().slice(-2000)).toBe(200);
      expect(value(samples(before.text), 'litellm_proxy_pre_call_total_requests_total')).toBe(0);
      // WHEN three completions go through
      for (let i = 0; i < 3; i++) expect((await r.chat(model)).status).toBe(200);
      expect(r.fake.completions()).toHaveLength(3);
      // (the counters move after the answer, in a background task: poll, bounded)
      let after: Sample[] = [];
      for (let i = 0; i < 40; i++) {
        after = samples((await r.scrape(endpoint.path)).text);
        if (value(after, 'litellm_proxy_pre_call_total_requests_total') >= 3 && value(after, 'litellm_self_total_requests_total') >= 3) break;
        await new Promise((res) => setTimeout(res, 250));
      }
      // THEN the per-request counters say three: the proxy's key check and its pre-call stage count each
      // request once; LiteLLM's own call and the router count more than one event per request.
      expect(value(after, 'litellm_auth_total_requests_total')).toBe(3);
      expect(value(after, 'litellm_proxy_pre_call_total_requests_total')).toBe(3);
      expect(value(after, 'litellm_self_total_requests_total')).toBeGreaterThanOrEqual(3);
      expect(value(after, 'litellm_router_total_requests_total')).toBeGreaterThanOrEqual(3);
      expect(value(after, 'litellm_self_latency_count')).toBeGreaterThanOrEqual(3);
      // and the license-gated logger is not in the way: no error for any request
      expect(r.proxy.log()).not.toMatch(/prometheus Layer Error|has no attribute 'litellm_/);
      // /metrics itself only redirects: a ServiceMonitor path without the slash would depend on Prometheus following it
      expect((await r.scrape('/metrics')).status).toBe(307);
    } finally {
      await r.stop();
    }
  });

  it('serves nothing on /metrics/ with spec.apps.monitoring.metrics false (the check can fail)', async () => {
    const { stack, config, monitor } = await rendered('{metrics: false, serviceMonitors: never}')();
    expect(monitor).toBeUndefined();
    const r = await run(config, stack.spec.apps.ollama.models);
    try {
      expect((await r.chat(config.model_list[0]!.model_name)).status).toBe(200);
      expect((await r.scrape('/metrics/')).status).toBe(404);
    } finally {
      await r.stop();
    }
  });
});
