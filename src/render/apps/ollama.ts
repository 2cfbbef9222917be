// Ollama as a Knative Service: Knative scales pods on concurrent requests (down to zero when
// min is 0) and the readiness probe holds traffic back until every model is pulled.
import type { KubeObject } from '../../catalog/types.js';
import type { Apps } from '../../spec/schema.js';
import { shortHash } from '../names.js';
import { restrictedContainerSecurity, restrictedPodSecurity } from './security.js';

export const OLLAMA_PORT = 11434;
export const APPS_NAMESPACE = 'llm';
export const OLLAMA_URL = `http://ollama.${APPS_NAMESPACE}.svc.cluster.local`;
/** The longest request Ollama serves; fleet-bundles/knative-serving sets max-revision-timeout-seconds to it. */
export const OLLAMA_TIMEOUT_SECONDS = 900;
/** The image has no user of its own; any non-root uid works because HOME and the model cache are volumes. */
export const OLLAMA_UID = 10001;
export const OLLAMA_LABELS = { 'app.kubernetes.io/name': 'ollama' } as const;
/** The Job that fills the shared model cache (cache.mode: shared). */
export const OLLAMA_FILL_LABELS = { 'app.kubernetes.io/name': 'ollama-models' } as const;
/** The shared model cache: one ReadWriteMany claim in namespace llm. */
export const MODEL_CACHE_CLAIM = 'ollama-models';
const PART_OF = { 'app.kubernetes.io/part-of': 'llmstack' } as const;

/** Every model of the spec is on disk: the serving pods' readiness check, and what the fill Job waits for. */
const MODELS_PRESENT = 'for m in $LLMSTACK_MODELS; do ollama show "$m" >/dev/null 2>&1 || exit 1; done';
// Without a shared cache each pod pulls into its own volume once its server answers.
const PULL_INTO_POD = 'ollama serve & pid=$!; until ollama list >/dev/null 2>&1; do sleep 1; done; for m in $LLMSTACK_MODELS; do until ollama pull "$m"; do sleep 5; done; done; wait $pid';
// The shared cache is filled before (or while) serving pods start; they wait for the directories the
// Job creates first, because Ollama cannot create them on a read-only mount and exits.
const SERVE_FROM_CACHE = 'until [ -d "$OLLAMA_MODELS/blobs" ] && [ -d "$OLLAMA_MODELS/manifests" ]; do sleep 2; done; exec ollama serve';
// Pull every model (bounded retries; the Job restarts the pod after that), then delete the models a
// former spec listed and this one does not, so the claim holds only what the spec asks for.
const FILL_CACHE = [
  'mkdir -p "$OLLAMA_MODELS/blobs" "$OLLAMA_MODELS/manifests"',
  'ollama serve & pid=$!',
  'n=0; until ollama list >/dev/null 2>&1; do n=$((n+1)); [ $n -lt 60 ] || exit 1; sleep 1; done',
  'for m in $LLMSTACK_MODELS; do n=0; until ollama pull "$m"; do n=$((n+1)); [ $n -lt 30 ] || exit 1; sleep 10; done; done',
  'ollama list | tail -n +2 | while read -r name _; do case " $LLMSTACK_KEEP " in *" $name "*) ;; *) ollama rm "$name" || exit 1;; esac; done || exit 1',
  'kill $pid; wait $pid; exit 0',
].join('\n');

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
  const shared = o.cache.mode === 'shared';
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
      // Ollama 0.12.6 deletes, at start, every blob no manifest names: on a shared cache those are the
      // layers the fill Job is still downloading. A read-only mount would refuse it anyway; say so.
      ...(shared ? [{ name: 'OLLAMA_NOPRUNE', value: 'true' }] : []),
    ],
    command: ['/bin/sh', '-c'],
    // pod: serve first, then pull into the pod's own volume (the pull talks to the local server; a
    // failed pull is retried). shared: serve what the fill Job put on the claim.
    args: [
      shared ? SERVE_FROM_CACHE : PULL_INTO_POD,
    ],
    // Up: the server answers (it does within seconds, before any model is pulled).
    // shared: the very first pods may wait for the fill Job's pod to start (its image pull) before
    // their server can start: up to 30 minutes, like the readiness window, instead of restarting.
    startupProbe: { httpGet: { path: '/', port: OLLAMA_PORT }, periodSeconds: 2, failureThreshold: shared ? 900 : 60 },
    livenessProbe: { httpGet: { path: '/', port: OLLAMA_PORT }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
    // Ready: every model of the spec is on disk (a first pull of a large model takes minutes). From a
    // filled shared cache that is true as soon as the server answers: probe at once and often, so
    // a scale from zero is not held back by the probe's own schedule. 30 minutes either way.
    readinessProbe: shared
      ? { exec: { command: ['/bin/sh', '-c', MODELS_PRESENT] }, periodSeconds: 1, failureThreshold: 1800 }
      : { exec: { command: ['/bin/sh', '-c', MODELS_PRESENT] }, initialDelaySeconds: 5, periodSeconds: 5, failureThreshold: 360 },
    resources: {
      requests: resources(o.requests, o.gpu),
      limits: resources(o.limits, o.gpu),
    },
    securityContext: restrictedContainerSecurity(true),
    volumeMounts: [
      { name: 'models', mountPath: '/models', ...(shared ? { readOnly: true } : {}) },
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
      // Read-only, so Knative needs only kubernetes.podspec-persistent-volume-claim, not -write.
      shared ? { name: 'models', persistentVolumeClaim: { claimName: MODEL_CACHE_CLAIM, readOnly: true } } : { name: 'models', emptyDir: { sizeLimit: o.cache.size } },
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
  if (shared) objects.push(...modelCache(o));
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

/**
 * The shared model cache: a ReadWriteMany claim and the Job that pulls the spec's models into it once.
 * A Job's pod template cannot change, so the Job is named by a hash of what it pulls: a new model list
 * (or image) is a new Job, and Fleet deletes the old one with the bundle's previous content.
 */
export function modelCache(o: Apps['ollama']): KubeObject[] {
  const labels = { ...OLLAMA_FILL_LABELS, ...PART_OF };
  const claim: KubeObject = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: MODEL_CACHE_CLAIM, labels },
    spec: {
      accessModes: ['ReadWriteMany'],
      ...(o.cache.storageClass ? { storageClassName: o.cache.storageClass } : {}),
      resources: { requests: { storage: o.cache.size } },
    },
  };
  const job: KubeObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: fillJobName(o), labels },
    spec: {
      backoffLimit: 6,
      // No ttlSecondsAfterFinished: Fleet would create the deleted Job again and again.
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'OnFailure',
          automountServiceAccountToken: false,
          securityContext: restrictedPodSecurity(OLLAMA_UID, { fsGroup: true }),
          containers: [
            {
              name: 'pull',
              image: o.image,
              command: ['/bin/sh', '-c'],
              args: [FILL_CACHE],
              env: [
                { name: 'OLLAMA_HOST', value: `127.0.0.1:${OLLAMA_PORT}` },
                { name: 'OLLAMA_MODELS', value: '/models' },
                { name: 'HOME', value: '/tmp' },
                { name: 'LLMSTACK_MODELS', value: o.models.join(' ') },
                // The same models as `ollama list` names them: every other model is removed.
                { name: 'LLMSTACK_KEEP', value: o.models.map(ollamaListName).join(' ') },
                // An older Job may still be downloading when this one starts: pruning at start would
                // delete its verified layers before it writes their manifest.
                { name: 'OLLAMA_NOPRUNE', value: 'true' },
              ],
              // Downloads go to the claim; the root filesystem is read-only and /tmp holds only Ollama's key pair.
              resources: { requests: { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '50Mi' }, limits: { cpu: '1', memory: '1Gi', 'ephemeral-storage': '1Gi' } },
              securityContext: restrictedContainerSecurity(true),
              volumeMounts: [
                { name: 'models', mountPath: '/models' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'models', persistentVolumeClaim: { claimName: MODEL_CACHE_CLAIM } },
            { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
          ],
        },
      },
    },
  };
  return [claim, job];
}

/** `ollama-models-<hash of image and models>`: stable for one spec, new when what it pulls changes. */
export function fillJobName(o: Apps['ollama']): string {
  return `${MODEL_CACHE_CLAIM}-${shortHash(JSON.stringify({ image: o.image, models: o.models }), 10)}`;
}

/**
 * A model reference as `ollama list` shows it: Ollama 0.12.6 parses `[host/][namespace/]model[:tag]`
 * with the defaults registry.ollama.ai, library and latest, and its list leaves out a default host,
 * and a default namespace on the default host (types/model/name.go, DisplayShortest).
 */
export function ollamaListName(ref: string): string {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const [path, tag] = colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
  const parts = path.split('/');
  const model = parts.pop()!;
  const namespace = parts.pop() ?? 'library';
  const host = parts.length ? parts.join('/') : 'registry.ollama.ai';
  if (host.toLowerCase() !== 'registry.ollama.ai') return `${host}/${namespace}/${model}:${tag}`;
  if (namespace.toLowerCase() !== 'library') return `${namespace}/${model}:${tag}`;
  return `${model}:${tag}`;
}
