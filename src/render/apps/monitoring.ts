// Prometheus metrics of the apps, and ServiceMonitors for the Prometheus Operator where it runs.
//
// Fleet v0.16.1 turns a raw-YAML bundle into a Helm chart: its *.yaml files become chart files that
// a post-renderer adds unchanged, but files under the bundle's templates/ folder become the chart's
// templates (internal/helmdeployer/render/helm.go, manifests(); rancher/fleet commit 5823543a).
// The agent on the workload cluster renders that chart with the Capabilities of the cluster it
// deploys to: getCfg fills them from a fresh discovery (internal/helmdeployer/deployer.go,
// capabilities.go) and the install passes its API versions on even to the client-side dry run
// (install.go configureInstallAction; the upgrade reads the same Capabilities). So a template guarded by
// `.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor"` yields the ServiceMonitor
// exactly on clusters that serve the Prometheus Operator's CRD, as a Helm chart would (docs/adr/0013).
import type { KubeObject } from '../../catalog/types.js';
import type { Apps } from '../../spec/schema.js';
import { LITELLM_LABELS } from './litellm.js';
import { OLLAMA_LABELS } from './ollama.js';

/** The name of the Ollama Knative Service (src/render/apps/ollama.ts renders it; its URL is OLLAMA_URL). */
const OLLAMA_SERVICE = 'ollama';

export const SERVICE_MONITOR = { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' } as const;
/** What Helm's Capabilities.APIVersions holds when the cluster serves ServiceMonitors: group/version/kind. */
export const SERVICE_MONITOR_CAPABILITY = `${SERVICE_MONITOR.apiVersion}/${SERVICE_MONITOR.kind}`;
/** LiteLLM mounts its metrics app at /metrics; /metrics answers with a redirect to /metrics/. */
export const LITELLM_METRICS_PATH = '/metrics/';
/** The file of a bundle (litellm, ollama, knative-serving) that Fleet renders as a Helm template. */
export const SERVICE_MONITORS_FILE = 'templates/service-monitors.yaml';

/**
 * Knative Serving 1.23's Services (config/core/deployments/*.yaml of knative.dev/serving v0.50.0):
 * activator-service, autoscaler, controller and webhook carry app.kubernetes.io/name=knative-serving
 * and serve the Prometheus exporter that fleet-bundles/knative-serving turns on as port http-metrics.
 */
export const KNATIVE_METRICS = { labels: { 'app.kubernetes.io/name': 'knative-serving' }, port: 'http-metrics' } as const;
/**
 * A revision's private Service (knative.dev/serving v0.50.0 pkg/reconciler/serverlessservice/resources
 * MakePrivateService): the revision's labels (serving.knative.dev/service among them) plus
 * networking.internal.knative.dev/serviceType=Private, and port http-usermetric (9091) to queue-proxy.
 */
export const REVISION_METRICS = { serviceTypeKey: 'networking.internal.knative.dev/serviceType', port: 'http-usermetric' } as const;

/**
 * The ServiceMonitors a bundle's template holds: Knative's components whenever ServiceMonitors are
 * on (their exporters are the catalog's), LiteLLM and Ollama's queue-proxies when the apps serve metrics.
 */
export function bundleServiceMonitors(apps: Apps, bundle: string): KubeObject[] {
  if (apps.monitoring.serviceMonitors === 'never') return [];
  if (bundle === 'knative-serving') return [knativeServiceMonitor(apps)];
  if (!apps.monitoring.metrics) return [];
  if (bundle === 'litellm') return [litellmServiceMonitor(apps)];
  if (bundle === 'ollama') return [ollamaServiceMonitor(apps)];
  return [];
}

function serviceMonitor(apps: Apps, name: string, ownLabels: Record<string, string>, selector: Record<string, string>, endpoint: Record<string, unknown>): KubeObject {
  return {
    ...SERVICE_MONITOR,
    metadata: { name, labels: { ...apps.monitoring.serviceMonitorLabels, ...ownLabels, 'app.kubernetes.io/part-of': 'llmstack' } },
    // Services in the ServiceMonitor's own namespace, the bundle's.
    spec: { selector: { matchLabels: selector }, endpoints: [{ ...endpoint, interval: '30s' }] },
  };
}

export function litellmServiceMonitor(apps: Apps): KubeObject {
  return serviceMonitor(apps, 'litellm', { ...LITELLM_LABELS }, { ...LITELLM_LABELS }, { port: 'http', path: LITELLM_METRICS_PATH });
}

/** Every Ollama revision's queue-proxy request metrics (requests, latency), scraped from its pods. */
export function ollamaServiceMonitor(apps: Apps): KubeObject {
  // OLLAMA_SERVICE: the Knative Service renderOllama makes; Knative labels each revision with it.
  return serviceMonitor(apps, 'ollama', { ...OLLAMA_LABELS }, { 'serving.knative.dev/service': OLLAMA_SERVICE, [REVISION_METRICS.serviceTypeKey]: 'Private' }, { port: REVISION_METRICS.port, path: '/metrics' });
}

export function knativeServiceMonitor(apps: Apps): KubeObject {
  return serviceMonitor(apps, 'knative-serving', { 'app.kubernetes.io/name': 'knative-serving' }, { ...KNATIVE_METRICS.labels }, { port: KNATIVE_METRICS.port, path: '/metrics' });
}

/**
 * The template file: `yaml` (documents without any `{{`, which Helm would read as actions) inside
 * the Capabilities guard, or unguarded for serviceMonitors "always".
 */
export function serviceMonitorTemplate(apps: Apps, header: string, yaml: string): string {
  if (yaml.includes('{{')) throw new Error('a ServiceMonitor template must not contain "{{"');
  if (apps.monitoring.serviceMonitors === 'always') return `${header}${yaml}`;
  return `${header}{{- if .Capabilities.APIVersions.Has "${SERVICE_MONITOR_CAPABILITY}" }}\n${yaml}{{- end }}\n`;
}

/** NetworkPolicy ingress: Prometheus, in a namespace carrying the spec's labels, scrapes `port`. */
export function scrapeIngress(apps: Apps, port: string | number): Record<string, unknown> {
  return { from: [{ namespaceSelector: { matchLabels: { ...apps.monitoring.scrapeNamespaceLabels } } }], ports: [{ protocol: 'TCP', port }] };
}
