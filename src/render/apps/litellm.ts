// LiteLLM, the OpenAI-compatible gateway: its model list comes from the spec, and every credential
// is an environment variable filled from a Kubernetes Secret, never a value in Git.
import type { KubeObject } from '../../catalog/types.js';
import type { Apps } from '../../spec/schema.js';
import { shortHash } from '../names.js';
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

/** The model list, defaulting to one entry per Ollama model. */
export function litellmModels(apps: Apps): LitellmModel[] {
  if (apps.litellm.models.length > 0) return apps.litellm.models;
  return apps.ollama.models.map((m) => ({ name: m, model: `ollama/${m}` }));
}

function envName(modelName: string): string {
  return `LITELLM_KEY_${modelName.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

export function renderLitellm(apps: Apps): KubeObject[] {
  const models = litellmModels(apps);
  const env: Record<string, unknown>[] = [];
  const modelList = models.map((m) => {
    const params: Record<string, unknown> = { model: m.model };
    if (m.apiBase) params.api_base = m.apiBase;
    else if (m.model.startsWith('ollama')) params.api_base = OLLAMA_URL;
    if (m.apiKey) {
      const name = envName(m.name);
      params.api_key = `os.environ/${name}`;
      env.push({ name, valueFrom: { secretKeyRef: { name: m.apiKey.secretRef.name, key: m.apiKey.secretRef.key } } });
    }
    return { model_name: m.name, litellm_params: params };
  });
  const config: Record<string, unknown> = { model_list: modelList, litellm_settings: { drop_params: true } };
  const masterKey = apps.litellm.masterKey;
  if (masterKey) {
    config.general_settings = { master_key: 'os.environ/LITELLM_MASTER_KEY' };
    env.push({ name: 'LITELLM_MASTER_KEY', valueFrom: { secretKeyRef: { name: masterKey.secretRef.name, key: masterKey.secretRef.key } } });
  }
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
                env: env.length ? env : undefined,
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
