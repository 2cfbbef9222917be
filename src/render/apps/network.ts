// NetworkPolicies for namespace `llm`: everything is denied, then exactly the flows the stack uses are
// allowed. Traffic to Ollama goes through Knative, never straight to the pod:
//
//   Open WebUI ──4000──▶ LiteLLM ──8081──▶ Kourier gateway (knative-serving) ──8012──▶ queue-proxy ▶ Ollama
//                                                   └──8012──▶ activator ──8012──┘
//   Knative's autoscaler scrapes every queue-proxy on 9090.
//   Prometheus (namespaces with spec.apps.monitoring.scrapeNamespaceLabels) scrapes LiteLLM on 4000
//   and Ollama's queue-proxy request metrics on 9091.
//
// Ports and labels are those of Knative Serving 1.23 installed by the Knative Operator, which puts the
// Kourier gateway into the KnativeServing's namespace (knative-serving) rather than kourier-system.
// A policy selects its pods by labels llmstack sets (or the Open WebUI chart sets); kubelet probes come
// from the node and are not subject to NetworkPolicy.
import type { KubeObject } from '../../catalog/types.js';
import type { Apps, Cluster, Stack } from '../../spec/schema.js';
import { LITELLM_LABELS, litellmRoutes } from './litellm.js';
import { scrapeIngress } from './monitoring.js';
import { APPS_NAMESPACE, OLLAMA_FILL_LABELS, OLLAMA_LABELS, OLLAMA_URL } from './ollama.js';
import { OPENWEBUI_LABELS } from './openwebui.js';

export const KNATIVE_NAMESPACE = 'knative-serving';
/** net-kourier 1.23 gateway: pods `app: 3scale-kourier-gateway`, cluster-local listener on 8081. */
export const KOURIER = { labels: { app: '3scale-kourier-gateway' }, internalPort: 8081 } as const;
/** queue-proxy ports (knative.dev/serving pkg/networking): HTTP/1, h2c, autoscaler metrics, request metrics. */
export const QUEUE_PROXY = { http1: 8012, h2c: 8013, autoscalingMetrics: 9090, userMetrics: 9091 } as const;
/** Private and link-local ranges: "the internet" for egress is everything but these. */
export const NON_PUBLIC_CIDRS = ['10.0.0.0/8', '100.64.0.0/10', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16'] as const;

const byName = (name: string) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } });
const tcp = (port: number | string) => ({ protocol: 'TCP', port });
const internet = (ports: (number | string)[]) => ({
  to: [{ ipBlock: { cidr: '0.0.0.0/0', except: [...NON_PUBLIC_CIDRS] } }],
  ports: ports.map(tcp),
});
/** Cluster DNS: CoreDNS (or kube-dns) pods, labelled k8s-app=kube-dns on kubeadm, AKS, EKS and GKE. */
export const DNS_EGRESS = {
  to: [{ ...byName('kube-system'), podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
  ports: [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ],
};

export function policy(name: string, podSelector: Record<string, unknown>, spec: { ingress?: unknown[]; egress?: unknown[] }): KubeObject {
  const policyTypes = [spec.ingress ? 'Ingress' : undefined, spec.egress ? 'Egress' : undefined].filter(Boolean);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'llmstack' } },
    spec: { podSelector, policyTypes, ...spec },
  };
}

/** Namespace-wide: deny all in both directions, then let every pod resolve names. */
export function namespacePolicies(): KubeObject[] {
  // Their bundle installs into kube-system (see fleet-bundles/llm-namespace), so they name their namespace.
  return [policy('default-deny', {}, { ingress: [], egress: [] }), policy('allow-dns', {}, { egress: [DNS_EGRESS] })].map((p) => ({
    ...p,
    metadata: { ...p.metadata, namespace: APPS_NAMESPACE },
  }));
}

/**
 * Ollama: reached only from Knative's data path; pulls models from the internet (registry.ollama.ai).
 * With a shared cache the fill Job pulls them instead: the internet on 443 and nothing may reach it.
 * With metrics, Prometheus scrapes queue-proxy's request metrics (9091).
 */
export function ollamaPolicies(apps: Apps): KubeObject[] {
  const knative = (apps: string[]) => ({ ...byName(KNATIVE_NAMESPACE), podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: apps }] } });
  return [
    policy(
      'ollama',
      { matchLabels: { ...OLLAMA_LABELS } },
      {
        ingress: [
          { from: [knative(['activator', KOURIER.labels.app])], ports: [tcp(QUEUE_PROXY.http1), tcp(QUEUE_PROXY.h2c)] },
          { from: [knative(['autoscaler'])], ports: [tcp(QUEUE_PROXY.autoscalingMetrics)] },
          ...(apps.monitoring.metrics ? [scrapeIngress(apps, QUEUE_PROXY.userMetrics)] : []),
        ],
        egress: [internet([443])],
      },
    ),
    ...(apps.ollama.cache.mode === 'shared' ? [policy('ollama-models', { matchLabels: { ...OLLAMA_FILL_LABELS } }, { ingress: [], egress: [internet([443])] })] : []),
  ];
}

/**
 * LiteLLM: called by Open WebUI; calls Ollama through Kourier and the hosted providers the spec names.
 * Per cluster: a gateway's routes to other clusters' exposed Ollama (litellmRoutes) are an apiBase on 443.
 */
export function litellmPolicies(stack: Stack, cluster?: Cluster): KubeObject[] {
  // The cluster's own Ollama is the in-cluster URL (through Kourier); any other api_base is elsewhere.
  const models = litellmRoutes(stack, cluster).map((r) => ({ model: r.model, apiBase: r.apiBase === OLLAMA_URL ? undefined : r.apiBase }));
  const egress: unknown[] = [];
  if (models.some((m) => !m.apiBase && m.model.startsWith('ollama'))) {
    egress.push({ to: [{ ...byName(KNATIVE_NAMESPACE), podSelector: { matchLabels: { ...KOURIER.labels } } }], ports: [tcp(KOURIER.internalPort)] });
  }
  if (models.some((m) => !m.apiBase && !m.model.startsWith('ollama'))) egress.push(internet([443]));
  // An apiBase may be anywhere (another cluster, a service in this one): its port, any destination.
  const apiPorts = [...new Set(models.filter((m) => m.apiBase).map((m) => urlPort(m.apiBase!)))].sort((a, b) => a - b);
  if (apiPorts.length > 0) egress.push({ ports: apiPorts.map(tcp) });
  const ingress: unknown[] = [{ from: [{ podSelector: { matchLabels: { ...OPENWEBUI_LABELS } } }], ports: [tcp('http')] }];
  // Exposed through an Ingress: the controller may run anywhere (another namespace, host network on
  // any node), so the port is open to all; the master key guards the API.
  if (stack.spec.apps.litellm.ingress) ingress.push({ ports: [tcp('http')] });
  // /metrics/ shares the API's port: Prometheus, wherever it runs, in a namespace the spec names by labels.
  if (stack.spec.apps.monitoring.metrics) ingress.push(scrapeIngress(stack.spec.apps, 'http'));
  return [policy('litellm', { matchLabels: { ...LITELLM_LABELS } }, { ingress, egress })];
}

/** Open WebUI: users reach it from anywhere (an ingress controller, a port-forward); it calls LiteLLM only. */
export function openwebuiPolicies(): KubeObject[] {
  return [
    policy(
      'open-webui',
      { matchLabels: { ...OPENWEBUI_LABELS } },
      {
        ingress: [{ ports: [tcp('http')] }],
        egress: [{ to: [{ podSelector: { matchLabels: { ...LITELLM_LABELS } } }], ports: [tcp('http')] }],
      },
    ),
  ];
}

function urlPort(url: string): number {
  const u = new URL(url);
  return u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
}
