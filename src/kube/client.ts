// The one door to Kubernetes for the CLI: kubeconfig loading and typed errors.
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { EXIT, UserError } from '../errors.js';
import { FIELD_MANAGER } from './resources.js';

export { FIELD_MANAGER };

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (e) {
    throw new UserError(`cannot load kubeconfig${path ? ` ${path}` : ''}: ${(e as Error).message}`, EXIT.invalidInput, 'pass --kubeconfig FILE or set KUBECONFIG');
  }
  if (!kc.getCurrentCluster()) throw new UserError('the kubeconfig has no current cluster', EXIT.invalidInput, 'pass --kubeconfig FILE or set KUBECONFIG');
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

function label(o: KubernetesObject): string {
  return `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name} (${o.apiVersion})`;
}

/**
 * Sends every object as a server-side apply with dryRun=All: CRD structural schemas, CEL rules,
 * defaulting and admission run for real, and nothing is stored.
 */
export async function serverDryRun(kc: KubeConfig, objects: KubernetesObject[], concurrency = 8): Promise<DryRunResult[]> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const out: DryRunResult[] = new Array(objects.length);
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const i = next++;
      const o = objects[i]!;
      try {
        await client.patch(o, undefined, 'All', FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
        out[i] = { object: label(o), ok: true };
      } catch (e) {
        const err = e as { code?: number; body?: unknown; message?: string };
        let message = err.message ?? String(e);
        try {
          const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
          if (body && typeof body === 'object' && 'message' in body) message = String((body as { message: string }).message);
        } catch {
          // keep the client's message
        }
        out[i] = { object: label(o), ok: false, message, code: err.code };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, objects.length) }, worker));
  return out;
}
