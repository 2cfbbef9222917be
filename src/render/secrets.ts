// Which Secrets each workload cluster needs, and where they live on the management cluster. No Secret
// value is ever rendered: the app bundles name them in Fleet's `downstreamResources`, and Fleet
// (v0.16) copies each one from the Bundle's namespace into the cluster's apps namespace (see
// docs/adr/0010-secrets-reach-clusters-through-fleet.md).
import type { Cluster, Stack } from '../spec/schema.js';
import { clusterNamespace } from './cluster.js';
import { dnsName } from './names.js';

export interface SecretRef {
  secretRef: { name: string; key: string };
}

/** What a missing Secret needs: made by `llmstack secrets`, or provided by the user. */
export type SecretOrigin = 'generated' | 'user';

export interface RequiredSecret {
  /** Namespace on the management cluster: the namespace of the Fleet Bundles that deliver it. */
  namespace: string;
  name: string;
  /** Keys the apps read. */
  keys: string[];
  origin: SecretOrigin;
  /** Secret type Fleet must copy; kubernetes.io/tls for endpoint certificates. */
  type?: string;
  /** "namespace/name" of the workload clusters that get it, and what for. */
  usedBy: string[];
  purpose: string;
}

/** The namespace of the app GitRepo and its Bundles: fleet-default with Rancher, the cluster's own with CAAPF. */
export function bundleNamespace(stack: Stack, cluster: Cluster): string {
  return stack.spec.import.strategy === 'rancher' ? 'fleet-default' : clusterNamespace(stack, cluster);
}

/** LiteLLM's admin key: the spec's Secret, else one `llmstack secrets` makes per stack. */
export function masterKeyRef(stack: Stack): SecretRef & { origin: SecretOrigin } {
  const ref = stack.spec.apps.litellm.masterKey;
  if (ref) return { secretRef: ref.secretRef, origin: 'user' };
  return { secretRef: { name: dnsName([stack.metadata.name, 'litellm-master-key']), key: 'master-key' }, origin: 'generated' };
}

/** The key other clusters' LiteLLM present to a cluster's exposed Ollama (generated, per cluster). */
export function endpointKeyRef(stack: Stack, cluster: Cluster): SecretRef {
  return { secretRef: { name: dnsName([stack.metadata.name, clusterNamespace(stack, cluster), cluster.name, 'ollama-key']), key: 'api-key' } };
}

export const clusterKey = (stack: Stack, c: Cluster) => `${clusterNamespace(stack, c)}/${c.name}`;
