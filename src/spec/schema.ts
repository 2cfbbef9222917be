// The user's spec: one zod schema, the TypeScript types inferred from it, defaults chosen so that a
// short spec gives the whole stack. Every object is strict: an unknown field is an error, never dropped.
import { z } from 'zod';
import { overlaps, parseCidr, type Cidr } from './network.js';
import { checkEndpointUrl, checkGitUrl } from './urls.js';

export const API_VERSION = 'llmstack.dev/v1alpha1';
export const KIND = 'Stack';

/** App bundles a cluster can ask for by name. Platform bundles they need are added by the renderer. */
export const APP_NAMES = ['ollama', 'litellm', 'openwebui'] as const;
export type AppName = (typeof APP_NAMES)[number];

const dns1123Label = z
  .string()
  .max(63, { message: 'must be at most 63 characters' })
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
    message: 'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit',
  });

// Cluster names become part of MachineDeployment and Secret names, so they are kept shorter than 63.
const clusterName = dns1123Label.max(40, { message: 'must be at most 40 characters (CAPI derives longer names from it)' });

const quantity = z
  .union([z.string(), z.number()])
  .transform((v) => String(v))
  .pipe(
    z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$/, {
      message: 'must be a Kubernetes quantity such as "2", "500m", "4Gi"',
    }),
  );

const duration = z.string().regex(/^[0-9]+(s|m|h)$/, { message: 'must be a duration such as "30s", "5m" or "1h"' });

/** A custom issue with its fix; load.ts prints `params.fix`, with {path} replaced by the field path. */
function problem(ctx: z.RefinementCtx, message: string, fix: string, path?: (string | number)[]): void {
  ctx.addIssue({ code: 'custom', message, params: { fix }, ...(path ? { path } : {}) });
}

const kubernetesVersion = z.string().regex(/^v1\.[0-9]+\.[0-9]+$/, { message: 'must look like "v1.33.1"' });

const cidr = z.string().superRefine((v, ctx) => {
  const r = parseCidr(v);
  if (!r.ok) problem(ctx, `${JSON.stringify(v)} ${r.message}`, r.fix);
});

// A DNS-1123 subdomain, as Kubernetes requires of a cluster domain.
const dnsSubdomain = z
  .string()
  .max(253, { message: 'must be at most 253 characters' })
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, {
    message: 'must be a DNS name: lower-case labels of letters, digits and "-" joined by "."',
  });

// An OCI image reference as the container runtime parses it: [registry[:port]/]path[:tag][@digest].
const IMAGE_REF =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const image = z.string().superRefine((v, ctx) => {
  const example = 'write an image reference such as "ollama/ollama:0.12.6" or "registry.example.com:5000/team/app:1.0"';
  if (v === '') problem(ctx, 'the image is empty', example);
  else if (!IMAGE_REF.test(v)) problem(ctx, `${JSON.stringify(v)} is not an image reference ([registry/]name[:tag][@sha256:digest], lower-case name, no spaces)`, example);
});

/** Git's rules for a branch name (git-check-ref-format), so `git init -b` and `git push` accept it. */
export function branchProblem(b: string): string | undefined {
  if (b.startsWith('-')) return 'cannot start with "-"';
  if (b === '@' || b === 'HEAD') return `"${b}" is reserved by git`;
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(b)) return 'cannot contain spaces, control characters or any of ~ ^ : ? * [ \\';
  if (b.includes('..') || b.includes('@{') || b.includes('//')) return 'cannot contain "..", "@{" or "//"';
  if (b.startsWith('/') || b.endsWith('/') || b.endsWith('.')) return 'cannot start or end with "/", or end with "."';
  if (b.split('/').some((c) => c.startsWith('.') || c.endsWith('.lock'))) return 'no part between "/" may start with "." or end with ".lock"';
  return undefined;
}

const labelKey = z
  .string()
  .regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, {
    message: 'must be a Kubernetes label key such as "env" or "example.com/team"',
  });
const labelValue = z.string().regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/, {
  message: 'must be a Kubernetes label value: at most 63 letters, digits, "-", "_" or "."',
});
const labels = z.record(labelKey, labelValue);

/** A reference to a key of a Kubernetes Secret: the only way a spec may carry a credential. */
export const SecretKeyRef = z.strictObject({
  secretRef: z.strictObject({
    name: dns1123Label.describe("Secret on the management cluster, in the app bundles' namespace (fleet-default, or the cluster's namespace with caapf); Fleet copies it to the cluster"),
    key: z.string().min(1).describe('key inside the Secret'),
  }),
});

const taint = z.strictObject({
  key: labelKey,
  value: labelValue.optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
});

const gpu = z.strictObject({
  type: z.string().min(1).default('nvidia.com/gpu').describe('extended resource name of the GPU'),
  count: z.number().int().min(1).default(1),
});

const nodePool = z
  .strictObject({
    name: dns1123Label.max(30, { message: 'must be at most 30 characters' }),
    class: z.string().min(1).default('default-worker').describe('worker class of the ClusterClass'),
    replicas: z.number().int().min(0).optional().describe('fixed size; leave out when autoscaling is set'),
    autoscaling: z
      .strictObject({ min: z.number().int().min(0), max: z.number().int().min(1) })
      .superRefine((a, ctx) => {
        if (a.min > a.max) problem(ctx, `min ${a.min} is greater than max ${a.max}`, 'lower {path} or raise max', ['min']);
      })
      .optional(),
    capacity: z
      .strictObject({
        cpu: quantity,
        memory: quantity,
        ephemeralDisk: quantity.optional(),
        maxPods: z.number().int().min(1).optional(),
        gpu: gpu.optional(),
      })
      .optional()
      .describe('node size the autoscaler assumes when the pool is at zero'),
    spot: z.boolean().default(false),
    labels: labels.default({}),
    taints: z.array(taint).default([]),
  })
  .superRefine((p, ctx) => {
    if (p.replicas !== undefined && p.autoscaling) {
      problem(
        ctx,
        'replicas and autoscaling exclude each other: the autoscaler owns the size of an autoscaled pool',
        'remove replicas to let the autoscaler size the pool, or remove autoscaling for a fixed size',
        ['replicas'],
      );
    }
    if (p.autoscaling?.min === 0 && !p.capacity) {
      problem(
        ctx,
        'a pool that scales from zero needs capacity (cpu, memory and any gpu) so the autoscaler knows the node size',
        'add capacity: {cpu: "4", memory: 16Gi} with the size of one node (and gpu: {count: 1} for a GPU pool), or set autoscaling.min to 1',
        ['capacity'],
      );
    }
  });

const hostname = z
  .string()
  .max(253)
  .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$/, { message: 'must be a DNS name such as "ollama.models.example.com"' });

export const ClusterSchema = z
  .strictObject({
    name: clusterName,
    namespace: dns1123Label.optional().describe('defaults to spec.capi.namespace'),
    class: dns1123Label.describe('name of an entry in spec.clusterClasses'),
    kubernetesVersion: kubernetesVersion.default('v1.33.1'),
    labels: labels.default({}),
    controlPlane: z
      .strictObject({
        replicas: z
          .number()
          .int()
          .superRefine((n, ctx) => {
            if (n < 1 || n % 2 !== 1) problem(ctx, `${n} control plane machines: etcd needs an odd number, at least 1, for quorum`, 'set {path} to 1, 3 or 5');
          })
          .default(1),
      })
      .prefault({}),
    network: z
      .strictObject({
        pods: z.array(cidr).min(1).default(['192.168.0.0/16']),
        services: z.array(cidr).min(1).default(['10.128.0.0/12']),
        serviceDomain: dnsSubdomain.default('cluster.local'),
      })
      .prefault({})
      .superRefine((n, ctx) => {
        const parsed = (xs: string[]) => xs.map((x) => parseCidr(x)).map((r) => (r.ok ? r.cidr : undefined));
        const pods = parsed(n.pods);
        const services = parsed(n.services);
        services.forEach((s: Cidr | undefined, i) => {
          const j = pods.findIndex((p) => p && s && overlaps(p, s));
          if (j >= 0) {
            problem(
              ctx,
              `service block "${n.services[i]}" overlaps pod block "${n.pods[j]}": a Service IP would also be a pod IP`,
              'choose blocks that do not overlap, e.g. pods ["192.168.0.0/16"] and services ["10.128.0.0/12"]',
              ['services', i],
            );
          }
        });
      }),
    nodePools: z
      .array(nodePool)
      .min(1)
      .prefault([{ name: 'md-0', autoscaling: { min: 1, max: 3 } }]),
    apps: z.array(z.string().min(1)).default([...APP_NAMES]).describe('app bundles to deploy to this cluster'),
    ollamaEndpoint: z
      .strictObject({
        host: hostname.describe("DNS name that resolves to this cluster's Kourier load balancer"),
        tlsSecret: dns1123Label.describe('kubernetes.io/tls Secret for the host, on the management cluster beside the app bundles'),
      })
      .optional()
      .describe("serve this cluster's Ollama to other clusters' LiteLLM over HTTPS, with a generated key"),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.nodePools.forEach((p, i) => {
      if (seen.has(p.name)) problem(ctx, `duplicate node pool name "${p.name}"`, 'give each node pool of the cluster its own name', ['nodePools', i, 'name']);
      seen.add(p.name);
    });
  });

const ollamaModel = z.string().regex(/^[a-z0-9][a-z0-9._\-/]*(:[A-Za-z0-9._-]+)?$/, {
  message: 'must be an Ollama model tag such as "qwen2.5:0.5b"',
});

const resources = z.strictObject({
  cpu: quantity.optional(),
  memory: quantity.optional(),
});

export const OllamaSettings = z.strictObject({
  image: image.default('ollama/ollama:0.12.6'),
  models: z.array(ollamaModel).min(1).default(['qwen2.5:0.5b']),
  scale: z
    .strictObject({
      min: z.number().int().min(0).default(1),
      max: z.number().int().min(1).default(3),
      target: z.number().int().min(1).default(1).describe('concurrent requests per pod'),
      window: duration.default('60s'),
    })
    .superRefine((s, ctx) => {
      if (s.min > s.max) problem(ctx, `min ${s.min} is greater than max ${s.max}`, 'lower {path} or raise max', ['min']);
    })
    .prefault({}),
  requests: resources.prefault({ cpu: '1', memory: '2Gi' }),
  limits: resources.prefault({ memory: '4Gi' }),
  gpu: gpu.optional().describe('request GPUs and run on the GPU pool'),
  cache: z
    .strictObject({
      mode: z
        .enum(['pod', 'shared'])
        .default('pod')
        .describe('pod: each pod pulls the models into its own emptyDir; shared: one ReadWriteMany claim, filled once by a Job, mounted read-only by every pod'),
      size: quantity.default('10Gi').describe('emptyDir size limit (pod) or claim size (shared); room for every model of the spec'),
      storageClass: dnsSubdomain.optional().describe('shared: a StorageClass that provisions ReadWriteMany volumes; the cluster default when left out'),
    })
    .superRefine((c, ctx) => {
      if (c.storageClass && c.mode !== 'shared') problem(ctx, 'storageClass is only used with mode: shared', 'remove {path} or set mode: shared', ['storageClass']);
    })
    .prefault({})
    .describe('where the models live; see README "The model cache"'),
});

/** An Ingress for an app, with a certificate from a cert-manager issuer when tls is set. */
const ingress = z.strictObject({
  host: z.string().regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$/, { message: 'must be a DNS host name such as "chat.example.com"' }),
  className: z.string().min(1).optional().describe('ingressClassName; the cluster default when left out'),
  tls: z
    .strictObject({
      issuer: dns1123Label.describe('cert-manager issuer that signs the certificate'),
      kind: z.enum(['ClusterIssuer', 'Issuer']).default('ClusterIssuer'),
    })
    .optional()
    .describe('HTTPS with a certificate cert-manager issues (it must run on the cluster)'),
});
export type Ingress = z.infer<typeof ingress>;

export const LitellmModel = z.strictObject({
  name: z.string().min(1).describe('model name clients ask for'),
  model: z
    .string()
    .regex(/^[a-z0-9_-]+\/.+$/, { message: 'must be "<provider>/<model>", e.g. "ollama/qwen2.5:0.5b" or "openai/gpt-4o-mini"' }),
  apiBase: z
    .string()
    .superRefine((u, ctx) => {
      const p = checkEndpointUrl(u);
      if (p) problem(ctx, p.message, p.fix);
    })
    .optional()
    .describe('http(s) URL of an OpenAI-compatible endpoint'),
  apiKey: SecretKeyRef.optional(),
});

const litellm = z.strictObject({
  image: image.default('ghcr.io/berriai/litellm:main-v1.77.7-stable'),
  replicas: z.number().int().min(1).default(1).describe('replicas at least; the HorizontalPodAutoscaler adds more up to autoscaling.max'),
  autoscaling: z
    .strictObject({
      max: z.number().int().min(1).default(3),
      cpu: z.number().int().min(10).max(100).default(70).describe('target average CPU use, percent of the request'),
    })
    .prefault({})
    .describe('HorizontalPodAutoscaler on CPU; max equal to replicas turns it off'),
  models: z.array(LitellmModel).default([]).describe('defaults to one entry per Ollama model'),
  masterKey: SecretKeyRef.optional().describe('Secret holding the gateway admin key; default: <stack>-litellm-master-key, made by `llmstack secrets`'),
  ingress: ingress.optional().describe('expose the gateway outside the cluster'),
}).refine((l) => l.autoscaling.max >= l.replicas, {
  message: 'autoscaling.max must not be smaller than replicas (the autoscaler never goes below replicas)',
  path: ['autoscaling', 'max'],
});

const openwebui = z.strictObject({
  chartVersion: z.string().optional(),
  persistence: quantity.default('2Gi'),
  ingress: ingress.optional().describe('expose the chat UI outside the cluster'),
});

// Monitoring (spec.apps.monitoring). LiteLLM serves /metrics; ServiceMonitors for the Prometheus
// Operator are rendered as a Helm template of the litellm bundle that Fleet's agent renders with the
// workload cluster's API discovery, so they exist only where the operator's CRDs do (docs/adr/0013).
export const MonitoringSettings = z
  .strictObject({
    metrics: z
      .boolean()
      .default(true)
      .describe("LiteLLM serves Prometheus metrics on /metrics/ of its port, and Prometheus may scrape it and Ollama's queue-proxies (request counts, latencies)"),
    serviceMonitors: z
      .enum(['auto', 'always', 'never'])
      .default('auto')
      .describe('auto: ServiceMonitors (LiteLLM, Ollama, Knative) on clusters that serve monitoring.coreos.com/v1 ServiceMonitor; always: also where they do not (the bundles fail there); never: none'),
    serviceMonitorLabels: labels.default({}).describe("labels on every ServiceMonitor, e.g. {release: kube-prometheus-stack} for the Prometheus's serviceMonitorSelector"),
    scrapeNamespaceLabels: labels
      .default({ 'llmstack.dev/scrape-metrics': 'true' })
      .describe("NetworkPolicies let pods of namespaces with these labels scrape (label your Prometheus's namespace)"),
  })
  .superRefine((m, ctx) => {
    if (!m.metrics && m.serviceMonitors === 'always') {
      problem(ctx, 'serviceMonitors "always" asks Prometheus to scrape LiteLLM, but metrics is false', 'set metrics to true, or serviceMonitors to "never"', ['serviceMonitors']);
    }
    if (Object.keys(m.scrapeNamespaceLabels).length === 0) {
      problem(ctx, 'an empty scrapeNamespaceLabels would let every namespace reach LiteLLM', 'name the labels of the namespace your Prometheus runs in, e.g. {kubernetes.io/metadata.name: monitoring}', ['scrapeNamespaceLabels']);
    }
  });

export const GitSettings = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .superRefine((u, ctx) => {
        const p = checkGitUrl(u);
        if (p) problem(ctx, p.message, p.fix);
      })
      .optional()
      .describe('remote to clone and push to; leave out for a local repo'),
    branch: z
      .string()
      .min(1)
      .superRefine((b, ctx) => {
        const p = branchProblem(b);
        if (p) problem(ctx, `${JSON.stringify(b)} is not a valid Git branch name: it ${p}`, 'use a name such as "main" or "env/dev"');
      })
      .default('main'),
    path: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, { message: 'must be a relative path such as "clusters/dev"' })
      .superRefine((p, ctx) => {
        const parts = p.split('/');
        if (parts.some((c) => c === '.' || c === '..')) {
          problem(ctx, `${JSON.stringify(p)} leaves the repository or names it twice: "." and ".." are not allowed`, 'write a folder inside the repository, such as "clusters/dev"');
        } else if (parts.some((c) => c.toLowerCase() === '.git')) {
          problem(ctx, `${JSON.stringify(p)} is inside Git's own folder .git`, 'write a folder of the working tree, such as "clusters/dev"');
        }
      })
      .optional()
      .describe('sub-folder of the repo that llmstack owns'),
    clientSecretName: dns1123Label.optional().describe('Secret Fleet uses to pull the repo'),
  });

export const CapiSettings = z
  .strictObject({
    apiVersion: z.enum(['v1beta2', 'v1beta1']).default('v1beta2'),
    namespace: dns1123Label.default('default'),
  });

export const ClusterClassEntry = z.strictObject({
  name: dns1123Label.max(40),
  provider: z.string().min(1).describe('catalog folder under clusterclasses/, e.g. "docker"'),
});

export const ClusterClasses = z.array(ClusterClassEntry).min(1).default([{ name: 'docker-llm', provider: 'docker' }]);

export const StackSpec = z
  .strictObject({
    git: GitSettings.prefault({}),
    capi: CapiSettings.prefault({}),
    import: z
      .strictObject({
        strategy: z.enum(['rancher', 'caapf']).default('rancher'),
        autoImport: z.boolean().default(true),
      })
      .prefault({}),
    clusterClasses: ClusterClasses,
    clusters: z.array(ClusterSchema).default([]),
    apps: z
      .strictObject({
        ollama: OllamaSettings.prefault({}),
        litellm: litellm.prefault({}),
        openwebui: openwebui.prefault({}),
        monitoring: MonitoringSettings.prefault({}),
        networkPolicies: z
          .boolean()
          .default(true)
          .describe('NetworkPolicies for the apps (namespace llm: deny all, allow the flows the stack uses) and the cluster-autoscalers; false for a CNI that does not enforce them'),
      })
      .prefault({}),
  })
  .prefault({});

export const Stack = z.strictObject({
  apiVersion: z.literal(API_VERSION, { message: `must be "${API_VERSION}"` }),
  kind: z.literal(KIND, { message: `must be "${KIND}"` }),
  metadata: z.strictObject({
    name: dns1123Label.max(30, { message: 'must be at most 30 characters (it prefixes GitRepo and bundle names)' }),
    labels: labels.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: StackSpec,
});

export type Stack = z.infer<typeof Stack>;
export type StackInput = z.input<typeof Stack>;
export type Cluster = Stack['spec']['clusters'][number];
export type NodePool = Cluster['nodePools'][number];
export type Apps = Stack['spec']['apps'];
