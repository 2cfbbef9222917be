// Every pod llmstack makes the cluster run, as the Pod its owner would create: Deployments' and Jobs' templates,
// the Ollama Knative Service as Knative Serving 1.23 builds its revision pod (queue-proxy included),
// and Open WebUI as chart open-webui 15.1.0 turns our values into its pod (the chart itself cannot be
// fetched here, so its workload template is mirrored for the fields the values reach).
import { parseAllDocuments } from 'yaml';
import type { RenderedFile } from '../../src/render/index.js';

export interface PodCase {
  /** Where it comes from: file and object. */
  source: string;
  pod: { apiVersion: 'v1'; kind: 'Pod'; metadata: { name: string; labels?: Record<string, string> }; spec: Record<string, unknown> };
}

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: Record<string, unknown> };
type Template = { metadata?: { labels?: Record<string, string> }; spec: Record<string, unknown> };

function docs(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => !!o && typeof o === 'object');
}

function pod(name: string, template: Template): PodCase['pod'] {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: template.metadata?.labels }, spec: structuredClone(template.spec) };
}

/** Knative Serving 1.23 (pkg/reconciler/revision/resources/queue.go): the sidecar it adds to every revision pod. */
export const QUEUE_PROXY_SECURITY_CONTEXT = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** The revision pod Knative creates for a Service: its template's pod spec minus Knative's own fields, plus queue-proxy. */
export function knativeRevisionPod(service: Obj): PodCase['pod'] {
  const template = (service.spec as { template: Template }).template;
  const p = pod(`${service.metadata.name}-00001-deployment`, template);
  for (const k of ['containerConcurrency', 'timeoutSeconds', 'responseStartTimeoutSeconds', 'idleTimeoutSeconds']) delete p.spec[k];
  (p.spec.containers as unknown[]).push({
    name: 'queue-proxy',
    image: 'gcr.io/knative-releases/knative.dev/serving/cmd/queue:v1.23.0',
    ports: [
      { name: 'http-queueadm', containerPort: 8022 },
      { name: 'http-autometric', containerPort: 9090 },
      { name: 'http-usermetric', containerPort: 9091 },
      { name: 'queue-port', containerPort: 8012 },
      { name: 'https-port', containerPort: 8112 },
    ],
    resources: { requests: { cpu: '25m' } },
    securityContext: QUEUE_PROXY_SECURITY_CONTEXT,
  });
  return p;
}

/** Chart open-webui 15.1.0, templates/workload-manager.yaml: the pod fields our values set, as the chart maps them. */
export function openwebuiPod(values: Record<string, any>): PodCase['pod'] {
  const image = 'ghcr.io/open-webui/open-webui:0.10.1';
  const spec: Record<string, unknown> = {
    initContainers: [
      {
        name: 'copy-app-data',
        image,
        command: ['sh', '-c', 'cp -R -n /app/backend/data/* /tmp/app-data/'],
        ...(values.containerSecurityContext ? { securityContext: values.containerSecurityContext } : {}),
        ...(values.copyAppData?.resources ? { resources: values.copyAppData.resources } : {}),
        volumeMounts: [{ name: 'data', mountPath: '/tmp/app-data' }],
      },
    ],
    enableServiceLinks: false,
    automountServiceAccountToken: false,
    serviceAccountName: 'open-webui-sa',
    ...(values.podSecurityContext ? { securityContext: values.podSecurityContext } : {}),
    containers: [
      {
        name: 'open-webui',
        image,
        ports: [{ name: 'http', containerPort: 8080 }],
        ...(values.livenessProbe ? { livenessProbe: values.livenessProbe } : {}),
        ...(values.readinessProbe ? { readinessProbe: values.readinessProbe } : {}),
        ...(values.startupProbe ? { startupProbe: values.startupProbe } : {}),
        ...(values.resources ? { resources: values.resources } : {}),
        ...(values.containerSecurityContext ? { securityContext: values.containerSecurityContext } : {}),
        volumeMounts: [{ name: 'data', mountPath: '/app/backend/data' }],
        env: [{ name: 'ENABLE_OLLAMA_API', value: 'False' }, ...((values.extraEnvVars as unknown[]) ?? [])],
        tty: true,
      },
    ],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'open-webui' } }],
  };
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'open-webui-0', labels: { 'app.kubernetes.io/instance': 'open-webui', 'app.kubernetes.io/component': 'open-webui' } }, spec };
}

/** The Open WebUI chart values of a rendered openwebui fleet.yaml. */
export function openwebuiValuesOf(files: readonly RenderedFile[]): Record<string, any> | undefined {
  const f = files.find((x) => x.path === 'bundles/openwebui/fleet.yaml');
  return f ? ((docs(f.content)[0] as unknown as { helm: { values: Record<string, any> } }).helm.values) : undefined;
}

/** Every pod of a rendered tree (plus any extra manifest files, e.g. the controller's install). */
export function podCases(files: readonly RenderedFile[]): PodCase[] {
  const out: PodCase[] = [];
  for (const f of files) {
    if (!f.path.endsWith('.yaml') || f.path.endsWith('fleet.yaml')) continue;
    for (const o of docs(f.content)) {
      if (o.kind === 'Deployment' && o.apiVersion === 'apps/v1') {
        out.push({ source: `${f.path} Deployment ${o.metadata.name}`, pod: pod(`${o.metadata.name}-pod`, (o.spec as { template: Template }).template) });
      } else if (o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1') {
        out.push({ source: `${f.path} Knative Service ${o.metadata.name}`, pod: knativeRevisionPod(o) });
      } else if (o.kind === 'Job' && o.apiVersion === 'batch/v1') {
        out.push({ source: `${f.path} Job ${o.metadata.name}`, pod: pod(`${o.metadata.name}-pod`, (o.spec as { template: Template }).template) });
      } else if (['StatefulSet', 'DaemonSet', 'CronJob', 'ReplicaSet', 'Pod'].includes(o.kind)) {
        throw new Error(`${f.path}: ${o.kind} ${o.metadata.name} has no pod mapping in test/support/pod-templates.ts`);
      }
    }
  }
  const values = openwebuiValuesOf(files);
  if (values) out.push({ source: 'bundles/openwebui/fleet.yaml chart open-webui 15.1.0', pod: openwebuiPod(values) });
  return out;
}
