// The autoscaler's own view, read from the workload cluster: the `cluster-autoscaler-status` ConfigMap
// in kube-system, reached through the kubeconfig Secret CAPI writes (`<cluster>-kubeconfig`, key
// `value`). Clients are cached per cluster and rebuilt when the Secret changes.
import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export const STATUS_CONFIGMAP = { namespace: 'kube-system', name: 'cluster-autoscaler-status' } as const;

export type WorkloadRead =
  | { kind: 'ok'; text: string }
  | { kind: 'no-kubeconfig'; message: string }
  | { kind: 'no-configmap'; message: string }
  | { kind: 'unreachable'; message: string };

export class WorkloadReader {
  private clients = new Map<string, { secretVersion: string; api: CoreV1Api }>();

  constructor(
    private readonly management: KubeConfig,
    private readonly onRequest?: (verb: string) => void,
  ) {}

  /** Reads the autoscaler status of the cluster `ns/name`; never throws. */
  async read(namespace: string, cluster: string): Promise<WorkloadRead> {
    const { CoreV1Api, KubeConfig } = await import('@kubernetes/client-node');
    const key = `${namespace}/${cluster}`;
    let secret: { data?: Record<string, string>; metadata?: { resourceVersion?: string } };
    try {
      this.onRequest?.('get');
      secret = await this.management.makeApiClient(CoreV1Api).readNamespacedSecret({ name: `${cluster}-kubeconfig`, namespace });
    } catch (e) {
      return { kind: 'no-kubeconfig', message: `Secret ${namespace}/${cluster}-kubeconfig: ${errorText(e)}` };
    }
    const value = secret.data?.value;
    if (!value) return { kind: 'no-kubeconfig', message: `Secret ${namespace}/${cluster}-kubeconfig has no key "value"` };
    let entry = this.clients.get(key);
    const version = secret.metadata?.resourceVersion ?? value;
    if (!entry || entry.secretVersion !== version) {
      try {
        const kc = new KubeConfig();
        kc.loadFromString(Buffer.from(value, 'base64').toString('utf8'));
        entry = { secretVersion: version, api: kc.makeApiClient(CoreV1Api) };
        this.clients.set(key, entry);
      } catch (e) {
        return { kind: 'no-kubeconfig', message: `Secret ${namespace}/${cluster}-kubeconfig holds no usable kubeconfig: ${errorText(e)}` };
      }
    }
    try {
      const cm = await entry.api.readNamespacedConfigMap({ name: STATUS_CONFIGMAP.name, namespace: STATUS_CONFIGMAP.namespace });
      const text = cm.data?.status;
      if (text === undefined) return { kind: 'no-configmap', message: `${STATUS_CONFIGMAP.namespace}/${STATUS_CONFIGMAP.name} has no key "status"` };
      return { kind: 'ok', text };
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 404) return { kind: 'no-configmap', message: `no ${STATUS_CONFIGMAP.namespace}/${STATUS_CONFIGMAP.name} in the workload cluster yet` };
      return { kind: 'unreachable', message: `workload cluster: ${errorText(e)}` };
    }
  }

  forget(namespace: string, cluster: string): void {
    this.clients.delete(`${namespace}/${cluster}`);
  }
}

function errorText(e: unknown): string {
  const err = e as { code?: number; body?: unknown; message?: string };
  if (err.body && typeof err.body === 'string') {
    try {
      const parsed = JSON.parse(err.body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      // not JSON
    }
  }
  return err.message ?? String(e);
}
