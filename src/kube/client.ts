// The CLI's door to Kubernetes: kubeconfig loading with errors a user can act on, and the server-side
// dry run of `validate --server`.
import { EXIT, UserError } from '../errors.js';
import { KubeConfigError, loadKubeClientConfig, StaticKubeConfig, type KubeClientConfig } from './config.js';
import { resourceForKind } from './discovery.js';
import { KubeError, sendRequest } from './http.js';
import { apiPath, FIELD_MANAGER, type KubeObject } from './resources.js';

export { FIELD_MANAGER };

const KUBECONFIG_FIX = 'pass --kubeconfig FILE (and --context NAME) or set KUBECONFIG';

/** The kubeconfig at path, or the default one ($KUBECONFIG, ~/.kube/config, in-cluster); context instead of current-context. */
export async function loadKubeConfig(path?: string, context?: string): Promise<KubeClientConfig> {
  let kc: KubeClientConfig;
  try {
    kc = await loadKubeClientConfig({ ...(path ? { file: path } : {}), ...(context ? { context } : {}) });
  } catch (e) {
    if (e instanceof KubeConfigError) throw new UserError(`kubeconfig: ${e.message}`, EXIT.invalidInput, KUBECONFIG_FIX);
    throw new UserError(`cannot load kubeconfig${path ? ` ${path}` : ''}: ${(e as Error).message}`, EXIT.invalidInput, KUBECONFIG_FIX);
  }
  if (!kc.getCurrentCluster()) {
    throw new UserError(context ? `kubeconfig: context "${context}" is not in contexts` : 'the kubeconfig has no current cluster', EXIT.invalidInput, KUBECONFIG_FIX);
  }
  return kc;
}

/**
 * A failed request to the cluster as a user error (exit 5): the server unreachable, the credentials or the
 * request refused. `doing` says what was tried ("cannot list LLMClusters").
 */
export function clusterError(kc: KubeClientConfig, doing: string, e: unknown): UserError {
  const server = kc.getCurrentCluster()?.server ?? 'the cluster';
  if (!(e instanceof KubeError)) return new UserError(`${doing} on ${server}: ${(e as Error).message}`, EXIT.cluster, 'check that the API server answers: kubectl --kubeconfig FILE get --raw /readyz');
  if (e.code === 0) return new UserError(`${doing}: ${server} is unreachable (${e.message})`, EXIT.cluster, 'check --kubeconfig and --context, and that the API server runs and answers from here');
  if (e.code === 401) return new UserError(`${doing}: ${server} refused the credentials (401 ${e.reason})`, EXIT.cluster, 'renew the credentials in the kubeconfig (or pick another --context)');
  if (e.code === 403) return new UserError(`${doing}: forbidden on ${server}: ${e.message}`, EXIT.cluster, 'use an identity with the permission, or ask an admin to grant it');
  return new UserError(`${doing}: ${server} answered ${e.code} ${e.reason}: ${e.message}`, EXIT.cluster, 'try again; if it persists, look at the API server');
}

export interface DryRunResult {
  /** "<Kind>/<namespace>/<name>" as sent. */
  ref: string;
  /** apply; create for an object with only generateName, and for apply's type errors (see below); none when the kind is not served. */
  method: 'apply' | 'create' | 'none';
  ok: boolean;
  /** HTTP status; 0 when the request never reached a resource (the kind is not served). */
  code: number;
  /** The server's own message on failure (metav1.Status.message). */
  message?: string;
  reason?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  /** What the server would have stored, on success. */
  object?: KubeObject;
}

export interface DryRunOptions {
  /** For namespaced objects that name none; default the kubeconfig context's namespace, else "default". */
  namespace?: string;
  fieldManager?: string;
  concurrency?: number;
}

function contextNamespace(kc: KubeClientConfig): string {
  if (kc instanceof StaticKubeConfig) return kc.namespace ?? 'default';
  const withContexts = kc as { getContextObject?(name: string): { namespace?: string } | null; getCurrentContext?(): string };
  return withContexts.getContextObject?.(withContexts.getCurrentContext?.() ?? '')?.namespace ?? 'default';
}

interface Status {
  message?: string;
  reason?: string;
  details?: { causes?: DryRunResult['causes'] };
}

/**
 * Sends every object as a server-side apply with dryRun=All (a create when it has only generateName):
 * CRD structural schemas, CEL rules, defaulting and admission run for real, and nothing is stored.
 */
export async function serverDryRun(kc: KubeClientConfig, objects: readonly KubeObject[], options: DryRunOptions = {}): Promise<DryRunResult[]> {
  const fieldManager = options.fieldManager ?? FIELD_MANAGER;
  const defaultNamespace = contextNamespace(kc);
  const out: DryRunResult[] = new Array(objects.length);
  let next = 0;
  const one = async (o: KubeObject): Promise<DryRunResult> => {
    const named = o.metadata.namespace ?? options.namespace;
    const ns = named ?? defaultNamespace;
    const ref = `${o.kind}/${named ? `${named}/` : ''}${o.metadata.name ?? o.metadata.generateName ?? '?'}`;
    const rt = await resourceForKind(kc, o.apiVersion, o.kind);
    if (!rt) return { ref, method: 'none', ok: false, code: 0, message: `no matches for kind "${o.kind}" in version "${o.apiVersion}"` };
    // As kubectl does: a namespaced object without a namespace goes to the default one.
    const body = rt.namespaced ? { ...o, metadata: { ...o.metadata, namespace: ns } } : o;
    const collection = apiPath(rt, rt.namespaced ? ns : undefined);
    const create = () => sendRequest<KubeObject | Status>(kc, 'POST', collection, { body, query: { dryRun: 'All', fieldManager } });
    let method: DryRunResult['method'] = o.metadata.name ? 'apply' : 'create';
    let res = o.metadata.name
      ? await sendRequest<KubeObject | Status>(kc, 'PATCH', `${collection}/${encodeURIComponent(o.metadata.name)}`, {
          body,
          contentType: 'application/apply-patch+yaml',
          query: { dryRun: 'All', fieldManager, force: true },
        })
      : await create();
    // Apply refuses a field of the wrong type before validation runs ("failed to create typed patch
    // object", a 500); a create of the same object gets the schema's own 422 message.
    if (method === 'apply' && res.code === 500 && ((res.body as Status | undefined)?.message ?? res.text).startsWith('failed to create typed patch object')) {
      const created = await create();
      if (created.code !== 409) {
        res = created;
        method = 'create';
      }
    }
    if (res.code >= 200 && res.code < 300) return { ref, method, ok: true, code: res.code, object: res.body as KubeObject };
    const st = (res.body ?? {}) as Status;
    return {
      ref,
      method,
      ok: false,
      code: res.code,
      message: st.message ?? res.text,
      ...(st.reason ? { reason: st.reason } : {}),
      ...(st.details?.causes ? { causes: st.details.causes } : {}),
    };
  };
  const worker = async () => {
    while (next < objects.length) {
      const i = next++;
      out[i] = await one(objects[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, objects.length) }, worker));
  return out;
}
