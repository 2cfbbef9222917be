// `llmstack status`: the controller's LLMCluster reports, a line per cluster.
import type { KubeClientConfig } from '../kube/config.js';
import { stringify } from 'yaml';
import { EXIT, UserError } from '../errors.js';
import { loadKubeConfig } from '../kube/client.js';
import { getObject, isKubeError, isNotFound, listObjects } from '../kube/http.js';
import { LABEL } from '../render/labels.js';
import { RESOURCES } from '../kube/resources.js';
import { usableStatus, type LLMClusterStatus } from '../controller/types.js';

export interface StatusOptions {
  kubeconfig?: string;
  namespace?: string;
  allNamespaces?: boolean;
  output?: 'table' | 'json' | 'yaml';
  watch?: boolean;
  intervalMs?: number;
}

export interface LLMClusterObject {
  metadata: { name: string; namespace: string; creationTimestamp?: string };
  status?: LLMClusterStatus;
}

export async function listReports(kc: KubeClientConfig, namespace?: string): Promise<LLMClusterObject[]> {
  try {
    const { items } = await listObjects(kc, RESOURCES.llmCluster, namespace ? { namespace } : {});
    return (items as unknown as LLMClusterObject[]).sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    );
  } catch (e) {
    if (isNotFound(e)) {
      throw new UserError('the LLMCluster CRD is not installed on this cluster', EXIT.invalidInput, 'install the controller: kubectl apply -f manifests/crds && kubectl apply -k manifests/controller');
    }
    throw new UserError(`cannot list LLMClusters: ${(e as Error).message}`, EXIT.invalidInput, 'check --kubeconfig and that you may list llmclusters.llmstack.dev');
  }
}

function age(from: string | undefined, now: number): string {
  if (!from) return '?';
  const s = Math.max(0, Math.floor((now - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A table a person reads at a glance: one line per cluster, the worst bundle named when not ready. */
export function formatTable(items: LLMClusterObject[], now = Date.now()): string {
  const header = ['NAMESPACE', 'NAME', 'PHASE', 'IMPORT', 'BUNDLES', 'NODES', 'AUTOSCALER', 'AGE', 'MESSAGE'];
  const rows = items.map((o) => {
    // A status of another shape (another controller version) shows as unknown rather than failing the table.
    const s = usableStatus(o.status);
    const worst = s?.bundles.items.find((b) => b.state !== 'Ready');
    const message = s?.message ?? (worst ? `${worst.name}: ${worst.state}${worst.message ? ` (${worst.message})` : ''}` : '');
    return [
      o.metadata.namespace,
      o.metadata.name,
      s?.phase ?? 'Unknown',
      s?.import.state ?? '-',
      s ? `bundles ${s.bundles.summary}` : '-',
      s ? `nodes ${s.nodes.summary}` : '-',
      s?.autoscaler.health ?? '-',
      age(o.metadata.creationTimestamp, now),
      message,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function render(items: LLMClusterObject[], output: StatusOptions['output']): string {
  if (output === 'json') return JSON.stringify(items.map((o) => ({ namespace: o.metadata.namespace, name: o.metadata.name, status: o.status ?? null })), null, 2);
  if (output === 'yaml') return stringify(items.map((o) => ({ namespace: o.metadata.namespace, name: o.metadata.name, status: o.status ?? null }))).trimEnd();
  return items.length === 0 ? 'no LLMClusters found (is `llmstack controller` running?)' : formatTable(items);
}

export interface MissingSecret {
  namespace: string;
  name: string;
  /** Fleet Bundles (namespace/name) that name it in downstreamResources. */
  bundles: string[];
}

interface BundleWithDownstream {
  metadata: { name: string; namespace: string };
  spec?: { downstreamResources?: { kind?: string; name?: string }[]; targets?: { downstreamResources?: { kind?: string; name?: string }[] }[] };
}

/**
 * Secrets that llmstack's Bundles name in downstreamResources (bundle-wide or per target) but that do
 * not exist in the Bundle's namespace: Fleet cannot copy them, so those bundles do not deploy.
 * `undefined` when Fleet is not installed; an error text when Secrets may not be read.
 */
export async function missingBundleSecrets(kc: KubeClientConfig): Promise<MissingSecret[] | string | undefined> {
  let bundles: BundleWithDownstream[];
  try {
    bundles = (await listObjects(kc, RESOURCES.fleetBundle, { labelSelector: LABEL.stack })).items as unknown as BundleWithDownstream[];
  } catch (e) {
    if (isNotFound(e)) return undefined;
    return `cannot list Fleet Bundles to check their Secrets: ${(e as Error).message}`;
  }
  const wanted = new Map<string, MissingSecret>();
  for (const b of bundles) {
    const refs = [...(b.spec?.downstreamResources ?? []), ...(b.spec?.targets ?? []).flatMap((t) => t.downstreamResources ?? [])];
    for (const r of refs) {
      if (r.kind?.toLowerCase() !== 'secret' || !r.name) continue;
      const id = `${b.metadata.namespace}/${r.name}`;
      const m = wanted.get(id) ?? { namespace: b.metadata.namespace, name: r.name, bundles: [] };
      if (!m.bundles.includes(`${b.metadata.namespace}/${b.metadata.name}`)) m.bundles.push(`${b.metadata.namespace}/${b.metadata.name}`);
      wanted.set(id, m);
    }
  }
  const missing: MissingSecret[] = [];
  for (const m of [...wanted.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))) {
    try {
      if (!(await getObject(kc, RESOURCES.secret, m.namespace, m.name))) missing.push({ ...m, bundles: m.bundles.sort() });
    } catch (e) {
      if (isKubeError(e, 403)) return `cannot check the Secrets the bundles need: ${(e as Error).message}`;
      throw e;
    }
  }
  return missing;
}

export function formatMissingSecrets(missing: MissingSecret[] | string | undefined): string {
  if (missing === undefined || (Array.isArray(missing) && missing.length === 0)) return '';
  if (typeof missing === 'string') return `\n${missing}`;
  const lines = missing.map((m) => `  ${m.namespace}/${m.name} (needed by ${m.bundles.join(', ')})`);
  return `\nmissing Secrets (Fleet cannot deliver these bundles until they exist; \`llmstack secrets --spec FILE\` makes llmstack's own and names the rest):\n${lines.join('\n')}`;
}

export async function statusCommand(o: StatusOptions, print: (s: string) => void, signal?: AbortSignal): Promise<number> {
  const kc = await loadKubeConfig(o.kubeconfig);
  const namespace = o.allNamespaces ? undefined : o.namespace;
  let last = '';
  for (;;) {
    const items = await listReports(kc, namespace);
    // The table also names Secrets the bundles need and Fleet cannot find; json/yaml stay the reports.
    const found = o.output === 'json' || o.output === 'yaml' ? undefined : await missingBundleSecrets(kc);
    const missing = formatMissingSecrets(found);
    const text = `${render(items, o.output)}${missing}`;
    // In watch mode print only when something changed, ignoring the AGE column's ticking.
    const key = JSON.stringify([items.map((i) => [i.metadata, i.status]), missing]);
    if (!o.watch || key !== last) print(text);
    last = key;
    if (!o.watch) {
      return items.every((i) => usableStatus(i.status)?.phase === 'Ready') && !(Array.isArray(found) && found.length > 0) ? EXIT.ok : EXIT.changes;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, o.intervalMs ?? 2000);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (signal?.aborted) return EXIT.ok;
  }
}
