// The autoscaler's own view, read from the workload cluster: the `cluster-autoscaler-status` ConfigMap
// in kube-system, reached through the kubeconfig Secret CAPI writes (`<cluster>-kubeconfig`, key
// `value`). Clients are cached per cluster and rebuilt when the Secret changes.
import { loadKubeClientConfig, type KubeClientConfig } from '../kube/config.js';
import { closeConnections, isNotFound, kubeRequest } from '../kube/http.js';
import { apiPath, RESOURCES, type KubeObject } from '../kube/resources.js';

export const STATUS_CONFIGMAP = { namespace: 'kube-system', name: 'cluster-autoscaler-status' } as const;

// An unreachable workload cluster must not hold a poll round for the default 30 s.
const WORKLOAD_TIMEOUT_MS = 10_000;

export type WorkloadRead =
  | { kind: 'ok'; text: string }
  | { kind: 'no-kubeconfig'; message: string }
  | { kind: 'no-configmap'; message: string }
  | { kind: 'unreachable'; message: string };

type WithData = KubeObject & { data?: Record<string, string> };

export class WorkloadReader {
  private clients = new Map<string, { secretVersion: string; kc: KubeClientConfig }>();

  constructor(private readonly management: KubeClientConfig) {}

  /** Reads the autoscaler status of the cluster `ns/name`; never throws. */
  async read(namespace: string, cluster: string): Promise<WorkloadRead> {
    const key = `${namespace}/${cluster}`;
    const secretName = `${cluster}-kubeconfig`;
    let secret: WithData;
    try {
      secret = await kubeRequest<WithData>(this.management, 'GET', apiPath(RESOURCES.secret, namespace, secretName));
    } catch (e) {
      return { kind: 'no-kubeconfig', message: `Secret ${namespace}/${secretName}: ${errorText(e)}` };
    }
    const value = secret.data?.['value'];
    if (!value) return { kind: 'no-kubeconfig', message: `Secret ${namespace}/${secretName} has no key "value"` };
    let entry = this.clients.get(key);
    const version = secret.metadata.resourceVersion ?? value;
    if (!entry || entry.secretVersion !== version) {
      try {
        const kc = await loadKubeClientConfig({ text: Buffer.from(value, 'base64').toString('utf8'), origin: `Secret ${namespace}/${secretName}` });
        this.forget(namespace, cluster);
        entry = { secretVersion: version, kc };
        this.clients.set(key, entry);
      } catch (e) {
        return { kind: 'no-kubeconfig', message: `Secret ${namespace}/${secretName} holds no usable kubeconfig: ${errorText(e)}` };
      }
    }
    try {
      const cm = await kubeRequest<WithData>(entry.kc, 'GET', apiPath(RESOURCES.configMap, STATUS_CONFIGMAP.namespace, STATUS_CONFIGMAP.name), { timeoutMs: WORKLOAD_TIMEOUT_MS });
      const text = cm.data?.['status'];
      if (text === undefined) return { kind: 'no-configmap', message: `${STATUS_CONFIGMAP.namespace}/${STATUS_CONFIGMAP.name} has no key "status"` };
      return { kind: 'ok', text };
    } catch (e) {
      if (isNotFound(e)) return { kind: 'no-configmap', message: `no ${STATUS_CONFIGMAP.namespace}/${STATUS_CONFIGMAP.name} in the workload cluster yet` };
      return { kind: 'unreachable', message: `workload cluster: ${errorText(e)}` };
    }
  }

  forget(namespace: string, cluster: string): void {
    const key = `${namespace}/${cluster}`;
    const entry = this.clients.get(key);
    if (entry) closeConnections(entry.kc);
    this.clients.delete(key);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
