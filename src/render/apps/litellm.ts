// LiteLLM, the OpenAI-compatible gateway: its model list comes from the spec, and every credential
// is an environment variable filled from a Kubernetes Secret, never a value in Git.
import type { KubeObject } from '../../catalog/types.js';
import type { Apps, Cluster, Stack } from '../../spec/schema.js';
import { clusterNamespace } from '../cluster.js';
import { shortHash } from '../names.js';
import { endpointKeyRef, masterKeyRef } from '../secrets.js';
import { toYaml } from '../yaml.js';
import { OLLAMA_URL } from './ollama.js';
import { restrictedContainerSecurity, restrictedPodSecurity } from './security.js';

export const LITELLM_PORT = 4000;
export const LITELLM_LABELS = { 'app.kubernetes.io/name': 'litellm' } as const;

export interface LitellmModel {
  name: string;
  model: string;
  apiBase?: string;
  apiKey?: { secretRef: { name: string; key: string } };
}

/** One entry of LiteLLM's model_list: where a model name goes, and the env variable holding its key. */
export interface LitellmRoute {
  name: string;
  model: string;
  apiBase?: string;
  key?: { env: string; secretRef: { name: string; key: string } };
}

/** The model list, defaulting to one entry per Ollama model. */
export function litellmModels(apps: Apps): LitellmModel[] {
  if (apps.litellm.models.length > 0) return apps.litellm.models;
  return apps.ollama.models.map((m) => ({ name: m, model: `ollama/${m}` }));
}

function envName(modelName: string): string {
  return `LITELLM_KEY_${modelName.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

function endpointEnv(stack: Stack, c: Cluster): string {
  return `OLLAMA_KEY_${`${clusterNamespace(stack, c)}_${c.name}`.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** A model served by the stack's Ollama (no api_base of its own): "ollama/<tag>" or "ollama_chat/<tag>". */
export function ollamaTag(m: LitellmModel): string | undefined {
  if (m.apiBase) return undefined;
  const [provider, ...rest] = m.model.split('/');
  return provider === 'ollama' || provider === 'ollama_chat' ? rest.join('/') : undefined;
}

/** Clusters whose Ollama other clusters may use: they run it and expose it (spec order). */
export function ollamaServers(stack: Stack): Cluster[] {
  return stack.spec.clusters.filter((c) => c.apps.includes('ollama') && c.ollamaEndpoint);
}

/**
 * Where each model of one cluster's LiteLLM goes. Ollama models go to the cluster's own Ollama when it
 * runs one, else to every cluster that exposes its Ollama (LiteLLM balances over entries of one name).
 * An authenticated Ollama is reached as `ollama_chat/`: LiteLLM 1.77 sends api_key as a Bearer header
 * for that provider only (llms/ollama/chat/transformation.py validate_environment; the `ollama/`
 * provider's validate_environment drops it). Without `cluster`: a cluster with its own, unexposed Ollama.
 */
export function litellmRoutes(stack: Stack, cluster?: Cluster): LitellmRoute[] {
  const routes: LitellmRoute[] = [];
  const local = !cluster || cluster.apps.includes('ollama');
  for (const m of litellmModels(stack.spec.apps)) {
    const tag = ollamaTag(m);
    if (tag === undefined) {
      routes.push({
        name: m.name,
        model: m.model,
        apiBase: m.apiBase,
        key: m.apiKey ? { env: envName(m.name), secretRef: m.apiKey.secretRef } : undefined,
      });
    } else if (local && !cluster?.ollamaEndpoint) {
      routes.push({ name: m.name, model: m.model, apiBase: OLLAMA_URL });
    } else if (local) {
      // The cluster's own Ollama sits behind the same key check as for other clusters.
      routes.push({ name: m.name, model: `ollama_chat/${tag}`, apiBase: OLLAMA_URL, key: { env: endpointEnv(stack, cluster!), ...endpointKeyRef(stack, cluster!) } });
    } else {
      for (const s of ollamaServers(stack)) {
        routes.push({ name: m.name, model: `ollama_chat/${tag}`, apiBase: `https://${s.ollamaEndpoint!.host}`, key: { env: endpointEnv(stack, s), ...endpointKeyRef(stack, s) } });
      }
    }
  }
  return routes;
}

/**
 * Prometheus metrics without LiteLLM Enterprise (1.77.7, read in the installed package): the
 * `prometheus` callback's logger (litellm_enterprise/integrations/prometheus.py) records nothing
 * without a license and logs an error on every request, while the services logger of
 * `service_callback: [prometheus_system]` (litellm/integrations/prometheus_services.py) counts and
 * times the proxy's own services (litellm_proxy_pre_call_total_requests, litellm_auth_..., _router_...).
 * The proxy mounts /metrics when a success callback's name contains "prometheus"
 * (proxy/proxy_server.py, success_callback), which `prometheus_system` does; as a success callback it
 * names no logger and does nothing else. test/litellm/metrics.test.ts holds the proxy to this.
 */
export const LITELLM_METRICS_SETTINGS = { service_callback: ['prometheus_system'], success_callback: ['prometheus_system'] } as const;

/** The LiteLLM config.yaml of one cluster (see litellmRoutes), as an object. */
export function litellmConfig(stack: Stack, cluster?: Cluster): Record<string, unknown> {
  const modelList = litellmRoutes(stack, cluster).map((r) => {
    const params: Record<string, unknown> = { model: r.model };
    if (r.apiBase) params.api_base = r.apiBase;
    if (r.key) params.api_key = `os.environ/${r.key.env}`;
    return { model_name: r.name, litellm_params: params };
  });
  return {
    model_list: modelList,
    litellm_settings: { drop_params: true, ...(stack.spec.apps.monitoring.metrics ? LITELLM_METRICS_SETTINGS : {}) },
    // Every request needs the master key (or a key made with it); without one LiteLLM takes any caller.
    general_settings: { master_key: 'os.environ/LITELLM_MASTER_KEY' },
  };
}

/** The Secrets one cluster's LiteLLM reads, by env variable (master key last), de-duplicated. */
export function litellmEnv(stack: Stack, cluster?: Cluster): { name: string; secretRef: { name: string; key: string } }[] {
  const env = new Map<string, { name: string; key: string }>();
  for (const r of litellmRoutes(stack, cluster)) if (r.key) env.set(r.key.env, r.key.secretRef);
  env.set('LITELLM_MASTER_KEY', masterKeyRef(stack).secretRef);
  return [...env].map(([name, secretRef]) => ({ name, secretRef }));
}

export function renderLitellm(stack: Stack, cluster?: Cluster): KubeObject[] {
  const apps = stack.spec.apps;
  const config = litellmConfig(stack, cluster);
  const env = litellmEnv(stack, cluster).map((e) => ({ name: e.name, valueFrom: { secretKeyRef: { name: e.secretRef.name, key: e.secretRef.key } } }));
  const configText = toYaml(config);
  const labels = { 'app.kubernetes.io/name': 'litellm', 'app.kubernetes.io/part-of': 'llmstack' };
  const selector = { ...LITELLM_LABELS };
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'litellm-config', labels }, data: { 'config.yaml': configText } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'litellm', labels },
      spec: {
        // With an HPA (apps.litellm.autoscaling) the HPA owns the count.
        replicas: apps.litellm.autoscaling.max > apps.litellm.replicas ? undefined : apps.litellm.replicas,
        selector: { matchLabels: selector },
        template: {
          // A config change must roll the pods: LiteLLM reads its config once at start.
          metadata: { labels, annotations: { 'llmstack.dev/config-hash': shortHash(configText, 12) } },
          spec: {
            securityContext: restrictedPodSecurity(10001),
            containers: [
              {
                name: 'litellm',
                image: apps.litellm.image,
                args: ['--config', '/etc/litellm/config.yaml', '--port', String(LITELLM_PORT)],
                ports: [{ name: 'http', containerPort: LITELLM_PORT }],
                env,
                // Python imports take a while on small nodes; the startup probe holds the others back until then.
                startupProbe: { httpGet: { path: '/health/liveliness', port: 'http' }, periodSeconds: 5, failureThreshold: 36 },
                readinessProbe: { httpGet: { path: '/health/readiness', port: 'http' }, periodSeconds: 10 },
                livenessProbe: { httpGet: { path: '/health/liveliness', port: 'http' }, periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 4 },
                resources: { requests: { cpu: '250m', memory: '512Mi', 'ephemeral-storage': '100Mi' }, limits: { cpu: '2', memory: '1Gi', 'ephemeral-storage': '2Gi' } },
                // Read-only image: the proxy API needs only /tmp. (LiteLLM's admin UI copies its assets at start
                // and is not served then; llmstack uses the API only.)
                securityContext: restrictedContainerSecurity(true),
                volumeMounts: [
                  { name: 'config', mountPath: '/etc/litellm', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'config', configMap: { name: 'litellm-config' } },
              { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'litellm', labels },
      spec: { selector, ports: [{ name: 'http', port: LITELLM_PORT, targetPort: 'http' }] },
    },
  ];
}
