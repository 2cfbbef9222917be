// `llmstack secrets`: makes sure every Secret the spec's clusters read exists on the management
// cluster, in the namespace Fleet copies it from. Keys llmstack owns (the LiteLLM master key when
// the spec names none, the keys of exposed Ollamas) are generated here when absent; Secrets the user
// provides (hosted providers' API keys, TLS certificates) are only checked and named with the command
// that creates them. Values never leave the API server: they are neither printed nor logged.
import { randomBytes } from 'node:crypto';
import { EXIT } from '../errors.js';
import { clusterError, loadKubeConfig } from '../kube/client.js';
import type { KubeClientConfig } from '../kube/config.js';
import { getObject, isConflict, isNotFound, kubeRequest } from '../kube/http.js';
import { apiPath, RESOURCES, type KubeObject } from '../kube/resources.js';
import { LABEL, MANAGED_BY } from '../render/labels.js';
import { requiredSecrets } from '../render/secret-plan.js';
import type { RequiredSecret } from '../render/secrets.js';
import type { Stack } from '../spec/schema.js';
import { loadInputs, type SpecOptions } from './common.js';

export interface SecretsOptions extends SpecOptions {
  kubeconfig?: string;
  context?: string;
  /** Only report; create nothing. */
  check?: boolean;
  output?: 'text' | 'json';
}

export type SecretState = 'present' | 'created' | 'missing' | 'missing-keys';

export interface SecretReport extends Omit<RequiredSecret, 'keys'> {
  keys: string[];
  state: SecretState;
  /** Keys the Secret lacks (state missing-keys). */
  missingKeys?: string[];
  fix?: string;
}

interface SecretObject {
  metadata: { name: string; namespace: string };
  data?: Record<string, string>;
  type?: string;
}

/** LiteLLM requires keys it accepts as admin keys to start with "sk-". */
export function generateKey(): string {
  return `sk-${randomBytes(32).toString('hex')}`;
}

function createCommand(s: RequiredSecret): string {
  if (s.type === 'kubernetes.io/tls') return `kubectl -n ${s.namespace} create secret tls ${s.name} --cert=FILE.crt --key=FILE.key`;
  return `kubectl -n ${s.namespace} create secret generic ${s.name} ${s.keys.map((k) => `--from-literal=${k}=VALUE`).join(' ')}`;
}

/** Checks, and unless `check`, creates the generated Secrets. One value per Secret name across namespaces. */
export async function ensureSecrets(kc: KubeClientConfig, stack: Stack, check: boolean): Promise<SecretReport[]> {
  const wanted = requiredSecrets(stack);
  const found = await Promise.all(wanted.map((s) => getObject<SecretObject & KubeObject>(kc, RESOURCES.secret, s.namespace, s.name)));
  // A generated Secret needed in several namespaces (CAAPF: one per cluster namespace) has one value,
  // taken from any copy that already exists.
  const values = new Map<string, Record<string, string>>();
  wanted.forEach((s, i) => {
    const data = found[i]?.data;
    if (s.origin === 'generated' && data && s.keys.every((k) => data[k]) && !values.has(s.name)) values.set(s.name, data);
  });
  const reports: SecretReport[] = [];
  for (const [i, s] of wanted.entries()) {
    const obj = found[i];
    if (obj) {
      const missingKeys = s.keys.filter((k) => !obj.data?.[k]);
      reports.push(
        missingKeys.length === 0
          ? { ...s, state: 'present' }
          : { ...s, state: 'missing-keys', missingKeys, fix: `add ${missingKeys.join(', ')} to Secret ${s.namespace}/${s.name}` },
      );
      continue;
    }
    if (s.origin === 'user' || check) {
      reports.push({ ...s, state: 'missing', fix: s.origin === 'user' ? createCommand(s) : 'run `llmstack secrets` without --check' });
      continue;
    }
    const data = values.get(s.name) ?? Object.fromEntries(s.keys.map((k) => [k, Buffer.from(generateKey()).toString('base64')]));
    values.set(s.name, data);
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: s.name,
        namespace: s.namespace,
        labels: { [LABEL.stack]: stack.metadata.name, [LABEL.managedBy]: MANAGED_BY },
        annotations: { 'llmstack.dev/purpose': s.purpose },
      },
      type: 'Opaque',
      data,
    };
    try {
      await kubeRequest(kc, 'POST', apiPath(RESOURCES.secret, s.namespace), { body });
      reports.push({ ...s, state: 'created' });
    } catch (e) {
      // Made by someone else meanwhile (another run): theirs stands.
      if (isConflict(e)) reports.push({ ...s, state: 'present' });
      else if (isNotFound(e)) reports.push({ ...s, state: 'missing', fix: `namespace ${s.namespace} does not exist: create it, or check spec.import.strategy` });
      else throw e;
    }
  }
  return reports;
}

export function formatSecrets(reports: SecretReport[]): string {
  const rows = reports.map((r) => [`${r.namespace}/${r.name}`, r.state, r.origin, r.purpose, r.usedBy.join(',')]);
  const header = ['SECRET', 'STATE', 'ORIGIN', 'PURPOSE', 'CLUSTERS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const table = [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
  const fixes = reports.filter((r) => r.fix).map((r) => `  ${r.namespace}/${r.name}: ${r.fix}`);
  return fixes.length ? `${table}\nto fix:\n${fixes.join('\n')}` : table;
}

export async function secretsCommand(o: SecretsOptions, print: (s: string) => void, note: (s: string) => void): Promise<number> {
  const { stack } = await loadInputs(o, note);
  const kc = await loadKubeConfig(o.kubeconfig, o.context);
  let reports: SecretReport[];
  try {
    reports = await ensureSecrets(kc, stack, o.check ?? false);
  } catch (e) {
    throw clusterError(kc, 'cannot read or create the Secrets', e);
  }
  print(o.output === 'json' ? JSON.stringify(reports, null, 2) : formatSecrets(reports));
  return reports.every((r) => r.state === 'present' || r.state === 'created') ? EXIT.ok : EXIT.changes;
}
