// Prometheus metrics of the apps, and ServiceMonitors for the Prometheus Operator where it runs.
//
// Fleet v0.16.1 turns a raw-YAML bundle into a Helm chart: its *.yaml files become chart files that
// a post-renderer adds unchanged, but files under the bundle's templates/ folder become the chart's
// templates (internal/helmdeployer/render/helm.go, manifests(); rancher/fleet commit 5823543a).
// The agent on the workload cluster renders that chart with the Capabilities of the cluster it
// deploys to: getCfg fills them from a fresh discovery (internal/helmdeployer/deployer.go,
// capabilities.go) and the install passes its API versions on even to the client-side dry run
// (install.go configureInstallAction). So a template guarded by
// `.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor"` yields the ServiceMonitor
// exactly on clusters that serve the Prometheus Operator's CRD, as a Helm chart would (docs/adr/0013).
import type { KubeObject } from '../../catalog/types.js';
import type { Apps } from '../../spec/schema.js';
import { LITELLM_LABELS } from './litellm.js';

export const SERVICE_MONITOR = { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' } as const;
/** What Helm's Capabilities.APIVersions holds when the cluster serves ServiceMonitors: group/version/kind. */
export const SERVICE_MONITOR_CAPABILITY = `${SERVICE_MONITOR.apiVersion}/${SERVICE_MONITOR.kind}`;
/** LiteLLM mounts its metrics app at /metrics; /metrics answers with a redirect to /metrics/. */
export const LITELLM_METRICS_PATH = '/metrics/';
/** The file of the litellm bundle that Fleet renders as a Helm template. */
export const SERVICE_MONITORS_FILE = 'templates/service-monitors.yaml';

/** Whether LiteLLM gets a ServiceMonitor at all (everywhere or where the CRD is served). */
export function wantsServiceMonitors(apps: Apps): boolean {
  return apps.monitoring.metrics && apps.monitoring.serviceMonitors !== 'never';
}

export function litellmServiceMonitor(apps: Apps): KubeObject {
  return {
    ...SERVICE_MONITOR,
    metadata: { name: 'litellm', labels: { ...apps.monitoring.serviceMonitorLabels, ...LITELLM_LABELS, 'app.kubernetes.io/part-of': 'llmstack' } },
    spec: {
      // The Service's labels; it is in the ServiceMonitor's own namespace (llm).
      selector: { matchLabels: { ...LITELLM_LABELS } },
      endpoints: [{ port: 'http', path: LITELLM_METRICS_PATH, interval: '30s' }],
    },
  };
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
export function scrapeIngress(apps: Apps, port: string): Record<string, unknown> {
  return { from: [{ namespaceSelector: { matchLabels: { ...apps.monitoring.scrapeNamespaceLabels } } }], ports: [{ protocol: 'TCP', port }] };
}
