// The user's spec: one zod schema, the TypeScript types inferred from it, defaults chosen so that a
// short spec gives the whole stack. Every object is strict: an unknown field is an error, never dropped.
import { z } from 'zod';

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

const kubernetesVersion = z.string().regex(/^v1\.[0-9]+\.[0-9]+$/, { message: 'must look like "v1.33.1"' });

const cidr = z.string().regex(/^([0-9]{1,3}\.){3}[0-9]{1,3}\/[0-9]{1,2}$|^[0-9a-fA-F:]+\/[0-9]{1,3}$/, {
  message: 'must be a CIDR such as "192.168.0.0/16"',
});

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
      .refine((a) => a.min <= a.max, { message: 'min must not be greater than max', path: ['min'] })
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
      ctx.addIssue({
        code: 'custom',
        path: ['replicas'],
        message: 'replicas and autoscaling exclude each other: the autoscaler owns the size of an autoscaled pool',
      });
    }
    if (p.autoscaling?.min === 0 && !p.capacity) {
      ctx.addIssue({
        code: 'custom',
        path: ['capacity'],
        message: 'a pool that scales from zero needs capacity (cpu, memory and any gpu) so the autoscaler knows the node size',
      });
    }
  });

const hostname = z
  .string()
  .max(253)
  .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$/, { message: 'must be a DNS name such as "ollama.models.example.com"' });

const cluster = z
  .strictObject({
    name: clusterName,
    namespace: dns1123Label.optional().describe('defaults to spec.capi.namespace'),
    class: z.string().min(1).describe('name of an entry in spec.clusterClasses'),
    kubernetesVersion: kubernetesVersion.default('v1.33.1'),
    labels: labels.default({}),
    controlPlane: z
      .strictObject({ replicas: z.number().int().refine((n) => n % 2 === 1, { message: 'must be odd (1, 3, 5) for etcd quorum' }).default(1) })
      .prefault({}),
    network: z
      .strictObject({
        pods: z.array(cidr).min(1).default(['192.168.0.0/16']),
        services: z.array(cidr).min(1).default(['10.128.0.0/12']),
        serviceDomain: z.string().default('cluster.local'),
      })
      .prefault({}),
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
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['nodePools', i, 'name'], message: `duplicate node pool name "${p.name}"` });
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

const ollama = z.strictObject({
  image: z.string().default('ollama/ollama:0.12.6'),
  models: z.array(ollamaModel).min(1).default(['qwen2.5:0.5b']),
  scale: z
    .strictObject({
      min: z.number().int().min(0).default(1),
      max: z.number().int().min(1).default(3),
      target: z.number().int().min(1).default(1).describe('concurrent requests per pod'),
      window: duration.default('60s'),
    })
    .refine((s) => s.min <= s.max, { message: 'min must not be greater than max', path: ['min'] })
    .prefault({}),
  requests: resources.prefault({ cpu: '1', memory: '2Gi' }),
  limits: resources.prefault({ memory: '4Gi' }),
  gpu: gpu.optional().describe('request GPUs and run on the GPU pool'),
  storage: quantity.default('10Gi').describe('size of the model cache volume'),
});

const litellmModel = z.strictObject({
  name: z.string().min(1).describe('model name clients ask for'),
  model: z
    .string()
    .regex(/^[a-z0-9_-]+\/.+$/, { message: 'must be "<provider>/<model>", e.g. "ollama/qwen2.5:0.5b" or "openai/gpt-4o-mini"' }),
  apiBase: z.url().optional(),
  apiKey: SecretKeyRef.optional(),
});

const litellm = z.strictObject({
  image: z.string().default('ghcr.io/berriai/litellm:main-v1.77.7-stable'),
  replicas: z.number().int().min(1).default(1),
  models: z.array(litellmModel).default([]).describe('defaults to one entry per Ollama model'),
  masterKey: SecretKeyRef.optional().describe('Secret holding the gateway admin key; default: <stack>-litellm-master-key, made by `llmstack secrets`'),
});

const openwebui = z.strictObject({
  chartVersion: z.string().optional(),
  persistence: quantity.default('2Gi'),
});

export const StackSpec = z
  .strictObject({
    git: z
      .strictObject({
        url: z.string().min(1).optional().describe('remote to clone and push to; leave out for a local repo'),
        branch: z.string().min(1).default('main'),
        path: z
          .string()
          .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, { message: 'must be a relative path such as "clusters/dev"' })
          .optional()
          .describe('sub-folder of the repo that llmstack owns'),
        clientSecretName: dns1123Label.optional().describe('Secret Fleet uses to pull the repo'),
      })
      .prefault({}),
    capi: z
      .strictObject({
        apiVersion: z.enum(['v1beta2', 'v1beta1']).default('v1beta2'),
        namespace: dns1123Label.default('default'),
      })
      .prefault({}),
    import: z
      .strictObject({
        strategy: z.enum(['rancher', 'caapf']).default('rancher'),
        autoImport: z.boolean().default(true),
      })
      .prefault({}),
    clusterClasses: z
      .array(
        z.strictObject({
          name: dns1123Label.max(40),
          provider: z.string().min(1).describe('catalog folder under clusterclasses/, e.g. "docker"'),
        }),
      )
      .min(1)
      .default([{ name: 'docker-llm', provider: 'docker' }]),
    clusters: z.array(cluster).default([]),
    apps: z
      .strictObject({
        ollama: ollama.prefault({}),
        litellm: litellm.prefault({}),
        openwebui: openwebui.prefault({}),
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
