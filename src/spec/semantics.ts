// Checks that need more than one field or the catalog: references between spec entries, worker
// classes the chosen ClusterClass really has, apps the catalog really ships.
import type { Catalog } from '../catalog/types.js';
import { ollamaTag } from '../render/apps/litellm.js';
import type { PathKey } from './load.js';
import type { Stack } from './schema.js';

export type CatalogIndex = Catalog;

type Spec = Stack['spec'];

/**
 * The parts of a spec the checks read, each `undefined` when it is itself invalid (its schema error
 * is reported instead), so a spec with schema errors still gets its cross-field problems reported.
 */
export interface SpecParts {
  capi?: Spec['capi'];
  clusterClasses?: (Spec['clusterClasses'][number] | undefined)[];
  clusters: (ClusterView | undefined)[];
  ollama?: Spec['apps']['ollama'];
  litellmModels: (Spec['apps']['litellm']['models'][number] | undefined)[];
}

export interface SemanticIssue {
  path: PathKey[];
  message: string;
  fix: string;
}

const list = (xs: Iterable<string>) => [...xs].map((x) => `"${x}"`).join(', ');

/** What the checks read of a cluster; a field is `undefined` where the spec's value is invalid. */
export interface ClusterView {
  name?: string;
  namespace?: string;
  class?: string;
  nodePools: { class?: string; gpu: boolean; taints: { key: string; effect: string }[] }[];
  apps: string[];
  ollamaEndpoint?: { host: string };
}

export function clusterView(c: Spec['clusters'][number]): ClusterView {
  return { name: c.name, namespace: c.namespace, class: c.class, nodePools: c.nodePools.map((p) => ({ class: p.class, gpu: Boolean(p.capacity?.gpu), taints: p.taints })), apps: c.apps, ollamaEndpoint: c.ollamaEndpoint };
}

export function partsOf(stack: Stack): SpecParts {
  const { spec } = stack;
  return { capi: spec.capi, clusterClasses: spec.clusterClasses, clusters: spec.clusters.map(clusterView), ollama: spec.apps.ollama, litellmModels: spec.apps.litellm.models };
}

export function checkSemantics(spec: SpecParts, catalog: Catalog): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  const providers = new Set(catalog.clusterClasses.map((c) => c.provider));

  const classNames = new Map<string, number>();
  // Whether every ClusterClass entry is known: only then is a cluster's class surely unknown.
  const classesKnown = spec.clusterClasses !== undefined && spec.clusterClasses.every((cc) => cc !== undefined);
  (spec.clusterClasses ?? []).forEach((cc, i) => {
    if (!cc) return;
    if (classNames.has(cc.name)) {
      issues.push({ path: ['spec', 'clusterClasses', i, 'name'], message: `duplicate ClusterClass name "${cc.name}"`, fix: 'give each entry its own name' });
    }
    classNames.set(cc.name, i);
    if (!providers.has(cc.provider)) {
      issues.push({
        path: ['spec', 'clusterClasses', i, 'provider'],
        message: `no ClusterClass for provider "${cc.provider}" in the catalog`,
        fix: `use one of: ${list(providers)}`,
      });
    }
  });

  const bundles = new Set(catalog.bundles.keys());
  const clusterKeys = new Set<string>();
  spec.clusters.forEach((c, i) => {
    if (!c) return;
    const ns = c.namespace ?? spec.capi?.namespace;
    const key = `${ns}/${c.name}`;
    if (ns !== undefined && c.name !== undefined && clusterKeys.has(key)) {
      issues.push({ path: ['spec', 'clusters', i, 'name'], message: `duplicate cluster "${c.name}" in namespace "${ns}"`, fix: 'give each cluster its own name' });
    }
    clusterKeys.add(key);

    c.nodePools.forEach((p, j) => {
      const seen = new Map<string, number>();
      p.taints.forEach((t, k) => {
        const id = `${t.key}:${t.effect}`;
        const first = seen.get(id);
        if (first === undefined) {
          seen.set(id, k);
          return;
        }
        // kubeadm refuses to register a node with two taints of one key and effect.
        issues.push({
          path: ['spec', 'clusters', i, 'nodePools', j, 'taints', k],
          message: `taint ${id} repeats taints[${first}]: a node has at most one taint per key and effect`,
          fix: `remove one of the two ${id} taints`,
        });
      });
    });

    const ccIndex = c.class === undefined ? undefined : classNames.get(c.class);
    const classes = spec.clusterClasses ?? [];
    if (c.class === undefined || (ccIndex === undefined && !classesKnown)) {
      // Its class or the ClusterClass list is itself invalid: that error is reported instead.
    } else if (ccIndex === undefined) {
      issues.push({
        path: ['spec', 'clusters', i, 'class'],
        message: `unknown ClusterClass "${c.class}"`,
        fix: `${classNames.size ? `use one of: ${list(classNames.keys())}, or ` : ''}add {name: ${c.class}, provider: docker} to spec.clusterClasses`,
      });
    } else if (spec.capi) {
      const { capi } = spec;
      const entry = catalog.clusterClasses.find((e) => e.provider === classes[ccIndex]!.provider && e.capiVersion === capi.apiVersion);
      if (entry) {
        c.nodePools.forEach((p, j) => {
          if (p.class !== undefined && !entry.workerClasses.includes(p.class)) {
            issues.push({
              path: ['spec', 'clusters', i, 'nodePools', j, 'class'],
              message: `ClusterClass "${c.class}" has no worker class "${p.class}"`,
              fix: `use one of: ${list(entry.workerClasses)}`,
            });
          }
        });
      } else if (providers.has(classes[ccIndex]!.provider)) {
        issues.push({
          path: ['spec', 'capi', 'apiVersion'],
          message: `the catalog has no ${capi.apiVersion} ClusterClass for provider "${classes[ccIndex]!.provider}"`,
          fix: `use ${capi.apiVersion === 'v1beta2' ? 'v1beta1' : 'v1beta2'}`,
        });
      }
    }

    const seenApps = new Set<string>();
    c.apps.forEach((a, j) => {
      if (!bundles.has(a)) {
        issues.push({ path: ['spec', 'clusters', i, 'apps', j], message: `unknown app "${a}"`, fix: `use one of: ${list(bundles)}` });
      }
      if (seenApps.has(a)) issues.push({ path: ['spec', 'clusters', i, 'apps', j], message: `app "${a}" is listed twice`, fix: 'list each app once' });
      seenApps.add(a);
    });

    if (c.ollamaEndpoint && !c.apps.includes('ollama')) {
      issues.push({
        path: ['spec', 'clusters', i, 'ollamaEndpoint'],
        message: `cluster "${c.name ?? `#${i + 1}`}" exposes an Ollama endpoint but does not run Ollama`,
        fix: 'add ollama to this cluster\'s apps, or remove ollamaEndpoint',
      });
    }
    if (c.ollamaEndpoint) {
      const other = spec.clusters.findIndex((o, k) => k < i && o?.ollamaEndpoint?.host === c.ollamaEndpoint!.host);
      if (other >= 0) {
        issues.push({
          path: ['spec', 'clusters', i, 'ollamaEndpoint', 'host'],
          message: `host "${c.ollamaEndpoint.host}" is already the endpoint of cluster "${spec.clusters[other]!.name ?? `#${other + 1}`}"`,
          fix: 'give each cluster its own DNS name',
        });
      }
    }
    if (c.apps.includes('openwebui') && !c.apps.includes('litellm')) {
      issues.push({
        path: ['spec', 'clusters', i, 'apps'],
        message: `cluster "${c.name ?? `#${i + 1}`}" runs openwebui without litellm: Open WebUI talks to the LiteLLM of its own cluster`,
        fix: 'add litellm to this cluster\'s apps, or remove openwebui',
      });
    }
    if (c.apps.includes('litellm') && !c.apps.includes('ollama')) {
      // The spec's models, or one per Ollama model when it lists none (see litellmModels).
      const needsOllama =
        spec.litellmModels.length > 0
          ? spec.litellmModels.filter((m): m is NonNullable<typeof m> => m !== undefined && ollamaTag(m) !== undefined)
          : (spec.ollama?.models ?? []).map((m) => ({ name: m }));
      const servers = spec.clusters.filter((o) => o?.apps.includes('ollama') && o.ollamaEndpoint);
      if (needsOllama.length > 0 && servers.length === 0) {
        const serving = spec.clusters.filter((o) => o?.apps.includes('ollama')).map((o, k) => o!.name ?? `#${k + 1}`);
        issues.push({
          path: ['spec', 'clusters', i, 'apps'],
          message: `cluster "${c.name ?? `#${i + 1}`}" runs litellm without ollama, and no cluster exposes its Ollama, so ${list(needsOllama.map((m) => m.name))} would be routed nowhere`,
          fix: serving.length > 0
            ? `give a cluster that runs ollama (${list(serving)}) an endpoint: ollamaEndpoint: {host: DNS-NAME, tlsSecret: TLS-SECRET}; or add ollama to this cluster's apps`
            : "add ollama to this cluster's apps, or to another cluster's apps with ollamaEndpoint: {host: DNS-NAME, tlsSecret: TLS-SECRET}",
        });
      }
    }

    if (spec.ollama?.gpu && c.apps.includes('ollama') && !c.nodePools.some((p) => p.gpu || p.class?.includes('gpu'))) {
      issues.push({
        path: ['spec', 'clusters', i, 'nodePools'],
        message: `apps.ollama asks for GPUs but cluster ${c.name === undefined ? `#${i + 1}` : `"${c.name}"`} has no GPU node pool, so Ollama would never schedule`,
        fix: 'add a node pool with class gpu-worker and capacity.gpu, or remove apps.ollama.gpu',
      });
    }
  });

  const ollamaModels = new Set(spec.ollama?.models ?? []);
  const modelNames = new Set<string>();
  spec.litellmModels.forEach((m, i) => {
    if (!m) return;
    if (modelNames.has(m.name)) {
      issues.push({ path: ['spec', 'apps', 'litellm', 'models', i, 'name'], message: `duplicate model name "${m.name}"`, fix: 'give each model its own name' });
    }
    modelNames.add(m.name);
    const [provider, ...rest] = m.model.split('/');
    const target = rest.join('/');
    if ((provider === 'ollama' || provider === 'ollama_chat') && !m.apiBase && spec.ollama && !ollamaModels.has(target)) {
      issues.push({
        path: ['spec', 'apps', 'litellm', 'models', i, 'model'],
        message: `routes to Ollama model "${target}", which apps.ollama.models does not pull`,
        fix: `add "${target}" to spec.apps.ollama.models (now ${list(ollamaModels)})`,
      });
    }
    if (provider !== 'ollama' && provider !== 'ollama_chat' && !m.apiKey && !m.apiBase) {
      issues.push({
        path: ['spec', 'apps', 'litellm', 'models', i, 'apiKey'],
        message: `model "${m.name}" goes to the public provider "${provider}" but has no apiKey`,
        fix: 'add apiKey: {secretRef: {name: SECRET, key: KEY}} naming a Secret in the apps namespace',
      });
    }
  });
  return issues;
}
