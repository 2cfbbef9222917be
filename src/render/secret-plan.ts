// Every Secret the stack's workload clusters read, and the management-cluster namespace each must be
// in: the namespace of the Bundles that name it in downstreamResources (Fleet v0.16.1's Bundle
// controller reads the source from the Bundle's own namespace). Pure: `llmstack secrets` and the
// tests act on it.
import { litellmEnv } from './apps/litellm.js';
import { ollamaExposure } from './bundles.js';
import type { Stack } from '../spec/schema.js';
import { bundleNamespace, clusterKey, masterKeyRef, type RequiredSecret } from './secrets.js';

export function requiredSecrets(stack: Stack): RequiredSecret[] {
  const out = new Map<string, RequiredSecret>();
  const add = (s: Omit<RequiredSecret, 'usedBy' | 'keys'> & { key: string }, user: string) => {
    const id = `${s.namespace}/${s.name}`;
    const cur = out.get(id) ?? { namespace: s.namespace, name: s.name, keys: [], origin: s.origin, type: s.type, usedBy: [], purpose: s.purpose };
    if (!cur.keys.includes(s.key)) cur.keys.push(s.key);
    if (!cur.usedBy.includes(user)) cur.usedBy.push(user);
    out.set(id, cur);
  };
  const master = masterKeyRef(stack);
  for (const c of stack.spec.clusters) {
    const namespace = bundleNamespace(stack, c);
    const user = clusterKey(stack, c);
    if (c.apps.includes('litellm')) {
      for (const e of litellmEnv(stack, c)) {
        const isMaster = e.name === 'LITELLM_MASTER_KEY';
        const isEndpoint = e.name.startsWith('OLLAMA_KEY_');
        add(
          {
            namespace,
            name: e.secretRef.name,
            key: e.secretRef.key,
            origin: isMaster ? master.origin : isEndpoint ? 'generated' : 'user',
            purpose: isMaster ? 'LiteLLM master key (Open WebUI uses it too)' : isEndpoint ? 'key for an exposed Ollama' : 'API key of a hosted model',
          },
          user,
        );
      }
    }
    const exposure = ollamaExposure(stack, c);
    if (exposure) {
      add({ namespace, name: exposure.keyRef.secretRef.name, key: exposure.keyRef.secretRef.key, origin: 'generated', purpose: 'key for an exposed Ollama' }, user);
      for (const key of ['tls.crt', 'tls.key']) {
        add({ namespace, name: exposure.tlsSecret, key, origin: 'user', type: 'kubernetes.io/tls', purpose: `TLS certificate for ${exposure.host}` }, user);
      }
    }
  }
  return [...out.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}
