// The CLI's door to Kubernetes: kubeconfig loading with errors a user can act on, and the server-side
// dry run of `validate --server`.
import { EXIT, UserError } from '../errors.js';
import { KubeConfigError, loadKubeClientConfig, StaticKubeConfig, type KubeClientConfig } from './config.js';
import { resourceForKind } from './discovery.js';
import { isKubeError } from './http.js';
import type { KubeObject } from './resources.js';
import { applyObject, createObject } from './write.js';
import { FIELD_MANAGER } from './resources.js';

export { FIELD_MANAGER };

const KUBECONFIG_FIX = 'pass --kubeconfig FILE or set KUBECONFIG';

/** The kubeconfig at path, or the default one ($KUBECONFIG, ~/.kube/config, in-cluster). */
export async function loadKubeConfig(path?: string): Promise<KubeClientConfig> {
  let kc: KubeClientConfig;
  try {
    kc = await loadKubeClientConfig(path ? { file: path } : {});
  } catch (e) {
    if (e instanceof KubeConfigError) throw new UserError(`kubeconfig: ${e.message}`, EXIT.invalidInput, KUBECONFIG_FIX);
    throw new UserError(`cannot load kubeconfig${path ? ` ${path}` : ''}: ${(e as Error).message}`, EXIT.invalidInput, KUBECONFIG_FIX);
  }
  if (!kc.getCurrentCluster()) throw new UserError('the kubeconfig has no current cluster', EXIT.invalidInput, KUBECONFIG_FIX);
  return kc;
}

export interface DryRunResult {
  object: string;
  ok: boolean;
  /** The server's own message when it refused the object. */
  message?: string;
  /** HTTP status of the refusal. */
  code?: number;
}

function contextNamespace(kc: KubeClientConfig): string {
  if (kc instanceof StaticKubeConfig) return kc.namespace ?? 'default';
  const withContexts = kc as { getContextObject?(name: string): { namespace?: string } | null; getCurrentContext?(): string };
  return withContexts.getContextObject?.(withContexts.getCurrentContext?.() ?? '')?.namespace ?? 'default';
}

function label(o: KubeObject): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name} (${o.apiVersion})`;
}

/**
 * Sends every object as a server-side apply with dryRun=All: CRD structural schemas, CEL rules,
 * defaulting and admission run for real, and nothing is stored.
 */
export async function serverDryRun(kc: KubeClientConfig, objects: KubeObject[], concurrency = 8): Promise<DryRunResult[]> {
  const out: DryRunResult[] = new Array(objects.length);
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const i = next++;
      const o = objects[i]!;
      try {
        const rt = await resourceForKind(kc, o.apiVersion, o.kind);
        if (!rt) throw new Error(`the server does not serve kind ${o.kind} in ${o.apiVersion} (is its CRD installed?)`);
        // As kubectl does: a namespaced object without a namespace goes to the context's namespace.
        const target = rt.namespaced && !o.metadata.namespace ? { ...o, metadata: { ...o.metadata, namespace: contextNamespace(kc) } } : o;
        try {
          await applyObject(kc, target, FIELD_MANAGER, { dryRun: true, resource: rt });
        } catch (e) {
          // Apply refuses a field of the wrong type before validation ("failed to create typed patch
          // object", a 500); a dry-run create of the same object gets the schema's own 422 message.
          if (!(isKubeError(e, 500) && e.message.startsWith('failed to create typed patch object'))) throw e;
          await createObject(kc, rt, target, { fieldManager: FIELD_MANAGER, dryRun: true }).catch((c: unknown) => {
            throw isKubeError(c, 409) ? e : c;
          });
        }
        out[i] = { object: label(o), ok: true };
      } catch (e) {
        out[i] = { object: label(o), ok: false, message: e instanceof Error ? e.message : String(e), ...(isKubeError(e) ? { code: e.code } : {}) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, objects.length) }, worker));
  return out;
}
