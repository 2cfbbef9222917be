// spec.apps.monitoring: what each setting renders into the litellm bundle (LiteLLM's metrics settings,
// the ServiceMonitor template and its Capabilities guard, the scrape rule) and the specs it refuses.
// Helm's rendering of the template on clusters with and without the CRD: test/cluster/service-monitors.test.ts.
import { parse, parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { litellmConfig } from '../../src/render/apps/litellm.js';
import { SERVICE_MONITOR_CAPABILITY, SERVICE_MONITORS_FILE } from '../../src/render/apps/monitoring.js';
import { renderStack } from '../../src/render/index.js';
import { parseSpec } from '../../src/spec/load.js';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

const spec = (monitoring: string) =>
  parseSpec(
    `apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: m}\nspec:\n  clusters: [{name: a, class: docker-llm}]\n  apps:\n    monitoring: ${monitoring}\n`,
    'm.yaml',
    catalog,
  );
const template = (monitoring: string, bundle = 'litellm') => renderStack(spec(monitoring), catalog).files.find((f) => f.path === `bundles/${bundle}/${SERVICE_MONITORS_FILE}`)?.content;
const kindsIn = (text: string | undefined) => (text === undefined ? undefined : parseAllDocuments(text.split('\n').filter((l) => !l.includes('{{')).join('\n')).map((d) => (d.toJS() as { metadata: { name: string } }).metadata.name));

describe('spec.apps.monitoring', () => {
  it('by default: LiteLLM serves metrics and the ServiceMonitor is guarded by the CRD the cluster serves', () => {
    const s = spec('{}');
    expect(s.spec.apps.monitoring).toStrictEqual({ metrics: true, serviceMonitors: 'auto', serviceMonitorLabels: {}, scrapeNamespaceLabels: { 'llmstack.dev/scrape-metrics': 'true' } });
    expect((litellmConfig(s).litellm_settings as Record<string, unknown>).service_callback).toStrictEqual(['prometheus_system']);
    const text = template('{}')!;
    const lines = text.split('\n');
    // The guard wraps the one document: first action after the header, `end` last.
    expect(lines.filter((l) => l.includes('{{'))).toStrictEqual([`{{- if .Capabilities.APIVersions.Has "${SERVICE_MONITOR_CAPABILITY}" }}`, '{{- end }}']);
    expect(lines.at(-2)).toBe('{{- end }}');
    expect(SERVICE_MONITOR_CAPABILITY).toBe('monitoring.coreos.com/v1/ServiceMonitor');
    const body = parse(lines.filter((l) => !l.includes('{{')).join('\n')) as Record<string, any>;
    expect(body.kind).toBe('ServiceMonitor');
    expect(body.spec.endpoints).toStrictEqual([{ port: 'http', path: '/metrics/', interval: '30s' }]);
  });

  it('always: the same ServiceMonitor without the guard; never: no template; metrics false: neither metrics nor scraping', () => {
    const always = template('{serviceMonitors: always, serviceMonitorLabels: {release: kube-prometheus-stack}}')!;
    expect(always).not.toContain('{{');
    const sm = parse(always) as Record<string, any>;
    expect(sm.metadata.labels).toStrictEqual({ release: 'kube-prometheus-stack', 'app.kubernetes.io/name': 'litellm', 'app.kubernetes.io/part-of': 'llmstack' });
    expect(template('{serviceMonitors: never}')).toBeUndefined();
    const off = spec('{metrics: false, serviceMonitors: never}');
    expect(template('{metrics: false, serviceMonitors: never}')).toBeUndefined();
    expect(litellmConfig(off).litellm_settings).toStrictEqual({ drop_params: true });
    // metrics false with the default auto: nothing to monitor, so no ServiceMonitor either
    expect(template('{metrics: false}')).toBeUndefined();
  });

  it('puts Knative\'s components and Ollama\'s queue-proxies into the ServiceMonitors of their bundles', () => {
    expect(['litellm', 'ollama', 'knative-serving'].map((b) => kindsIn(template('{}', b)))).toStrictEqual([['litellm'], ['ollama'], ['knative-serving']]);
    // Without app metrics Knative's own exporters (the catalog turns them on) are still worth scraping.
    expect(['litellm', 'ollama', 'knative-serving'].map((b) => kindsIn(template('{metrics: false}', b)))).toStrictEqual([undefined, undefined, ['knative-serving']]);
    expect(['litellm', 'ollama', 'knative-serving'].map((b) => template('{serviceMonitors: never}', b))).toStrictEqual([undefined, undefined, undefined]);
    // No other bundle gets a template.
    const others = renderStack(spec('{}'), catalog).files.filter((f) => f.path.includes('/templates/')).map((f) => f.path.split('/')[1]);
    expect(others.sort()).toStrictEqual(['knative-serving', 'litellm', 'ollama']);
  });

  it('refuses a ServiceMonitor without metrics and a scrape rule for every namespace', () => {
    expect(() => spec('{metrics: false, serviceMonitors: always}')).toThrow(/spec\.apps\.monitoring\.serviceMonitors[^\n]*metrics is false[\s\S]*fix: set metrics to true/);
    expect(() => spec('{scrapeNamespaceLabels: {}}')).toThrow(/spec\.apps\.monitoring\.scrapeNamespaceLabels[^\n]*every namespace[\s\S]*fix:/);
    expect(() => spec('{serviceMonitors: sometimes}')).toThrow(/spec\.apps\.monitoring\.serviceMonitors/);
  });
});
