// Ollama as a Knative Service: Knative scales pods on concurrent requests (down to zero when
// min is 0) and the readiness probe holds traffic back until every model is pulled.
import type { KubeObject } from '../../catalog/types.js';
import type { Apps } from '../../spec/schema.js';
import { restrictedContainerSecurity, restrictedPodSecurity } from './security.js';

export const OLLAMA_PORT = 11434;
export const APPS_NAMESPACE = 'llm';
export const OLLAMA_URL = `http://ollama.${APPS_NAMESPACE}.svc.cluster.local`;
/** The longest request Ollama serves; fleet-bundles/knative-serving sets max-revision-timeout-seconds to it. */
export const OLLAMA_TIMEOUT_SECONDS = 900;
/** The image has no user of its own; any non-root uid works because HOME and the model cache are volumes. */
export const OLLAMA_UID = 10001;
export const OLLAMA_LABELS = { 'app.kubernetes.io/name': 'ollama' } as const;

/** Pinned: the auth proxy in front of an exposed Ollama (nginx's unprivileged image listens on 8080). */
export const AUTH_PROXY_IMAGE = 'nginxinc/nginx-unprivileged:1.28.0-alpine';
const AUTH_PORT = 8080;

/** A cluster's Ollama served to other clusters: the host, its certificate and the key callers present. */
export interface OllamaExposure {
  host: string;
  tlsSecret: string;
  keyRef: { secretRef: { name: string; key: string } };
}

// nginx's image renders /etc/nginx/templates/*.template with envsubst of the variables that are set
// (so nginx's own $http_authorization stays), then checks every request's bearer key against the
// Secret-filled OLLAMA_API_KEY before it reaches Ollama, which listens on loopback only.
const AUTH_PROXY_CONF = `server {
    listen ${AUTH_PORT};
    client_max_body_size 64m;
    location / {
        if ($http_authorization != "Bearer \${OLLAMA_API_KEY}") {
            return 401;
        }
        proxy_pass http://127.0.0.1:${OLLAMA_PORT};
        proxy_http_version 1.1;
        proxy_set_header Authorization "";
        proxy_buffering off;
        proxy_read_timeout 900s;
    }
}
`;

/** `placement` (nodeSelector, tolerations) sends Ollama to the GPU pools when it asks for GPUs. */
export function renderOllama(apps: Apps, placement?: Record<string, unknown>, exposure?: OllamaExposure): KubeObject[] {
  const o = apps.ollama;
  const models = o.models.join(' ');
  const resources = (r: { cpu?: string; memory?: string }, gpu?: { type: string; count: number }) => {
    const out: Record<string, string> = {};
    if (r.cpu) out.cpu = r.cpu;
    if (r.memory) out.memory = r.memory;
    if (gpu) out[gpu.type] = String(gpu.count);
    return Object.keys(out).length ? out : undefined;
  };
  const container = {
    name: 'ollama',
    image: o.image,
    ports: [{ name: 'http1', containerPort: OLLAMA_PORT }],
    env: [
      { name: 'OLLAMA_HOST', value: `0.0.0.0:${OLLAMA_PORT}` },
      { name: 'OLLAMA_MODELS', value: '/models' },
      { name: 'OLLAMA_KEEP_ALIVE', value: '-1' },
      // Ollama writes its key pair under $HOME/.ollama; the root filesystem is read-only.
      { name: 'HOME', value: '/tmp' },
      { name: 'LLMSTACK_MODELS', value: models },
    ],
    // Serve first, then pull: the pull talks to the local server; a failed pull is retried.
    command: ['/bin/sh', '-c'],
    args: [
      'ollama serve & pid=$!; for m in $LLMSTACK_MODELS; do until ollama pull "$m"; do sleep 5; done; done; wait $pid',
    ],
    // Up: the server answers (it does within seconds, before any model is pulled).
    startupProbe: { httpGet: { path: '/', port: OLLAMA_PORT }, periodSeconds: 2, failureThreshold: 60 },
    livenessProbe: { httpGet: { path: '/', port: OLLAMA_PORT }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
    // Ready: every model of the spec is on disk (a first pull of a large model takes minutes).
    readinessProbe: {
      exec: { command: ['/bin/sh', '-c', 'for m in $LLMSTACK_MODELS; do ollama show "$m" >/dev/null 2>&1 || exit 1; done'] },
      initialDelaySeconds: 5,
      periodSeconds: 5,
      failureThreshold: 360,
    },
    resources: {
      requests: resources(o.requests, o.gpu),
      limits: resources(o.limits, o.gpu),
    },
    securityContext: restrictedContainerSecurity(true),
    volumeMounts: [
      { name: 'models', mountPath: '/models' },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
  const podSpec: Record<string, unknown> = {
    containerConcurrency: 0,
    // LLM answers are slow; Knative's default 300 s request timeout cuts long generations. A
    // non-streamed answer sends its first byte only when done, so the response-start timeout
    // (defaulted to 300 s) must be as long. The knative-serving bundle raises Knative's maximum to match.
    timeoutSeconds: OLLAMA_TIMEOUT_SECONDS,
    responseStartTimeoutSeconds: OLLAMA_TIMEOUT_SECONDS,
    securityContext: restrictedPodSecurity(OLLAMA_UID, { fsGroup: true, knative: true }),
    containers: [container],
    volumes: [
      { name: 'models', emptyDir: { sizeLimit: o.storage } },
      { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
    ],
  };
  if (o.gpu && placement) Object.assign(podSpec, placement);
  if (exposure) exposeThroughAuthProxy(podSpec, container, exposure);
  const objects: KubeObject[] = [
    {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'ollama', labels: { 'app.kubernetes.io/name': 'ollama', 'app.kubernetes.io/part-of': 'llmstack' } },
      spec: {
        template: {
          metadata: {
            labels: { ...OLLAMA_LABELS },
            annotations: {
              'autoscaling.knative.dev/metric': 'concurrency',
              'autoscaling.knative.dev/target': String(o.scale.target),
              'autoscaling.knative.dev/min-scale': String(o.scale.min),
              'autoscaling.knative.dev/max-scale': String(o.scale.max),
              'autoscaling.knative.dev/window': o.scale.window,
            },
          },
          spec: podSpec,
        },
      },
    },
  ];
  if (exposure) {
    const labels = { 'app.kubernetes.io/name': 'ollama', 'app.kubernetes.io/part-of': 'llmstack' };
    objects.push(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ollama-auth', labels }, data: { 'default.conf.template': AUTH_PROXY_CONF } },
      {
        // Kourier serves the host with the certificate from the delivered TLS Secret.
        apiVersion: 'serving.knative.dev/v1beta1',
        kind: 'DomainMapping',
        metadata: { name: exposure.host, labels },
        spec: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'ollama' }, tls: { secretName: exposure.tlsSecret } },
      },
    );
  }
  return objects;
}

// Knative routes to the one container with a port: the proxy takes it, Ollama moves to loopback.
function exposeThroughAuthProxy(podSpec: Record<string, unknown>, container: Record<string, unknown>, exposure: OllamaExposure): void {
  delete container.ports;
  container.env = (container.env as { name: string; value: string }[]).map((e) => (e.name === 'OLLAMA_HOST' ? { ...e, value: `127.0.0.1:${OLLAMA_PORT}` } : e));
  const proxy = {
    name: 'auth',
    image: AUTH_PROXY_IMAGE,
    ports: [{ name: 'http1', containerPort: AUTH_PORT }],
    env: [{ name: 'OLLAMA_API_KEY', valueFrom: { secretKeyRef: { name: exposure.keyRef.secretRef.name, key: exposure.keyRef.secretRef.key } } }],
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
    volumeMounts: [{ name: 'auth-conf', mountPath: '/etc/nginx/templates', readOnly: true }],
    // nginx-unprivileged renders its templates into /etc/nginx/conf.d at start: the root stays writable.
    securityContext: restrictedContainerSecurity(false),
  };
  podSpec.containers = [...(podSpec.containers as unknown[]), proxy];
  podSpec.volumes = [...(podSpec.volumes as unknown[]), { name: 'auth-conf', configMap: { name: 'ollama-auth' } }];
}
