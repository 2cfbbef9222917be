// `llmstack status`: the controller's LLMCluster reports, a line per cluster; --watch follows a watch.
import type { KubeClientConfig } from '../kube/config.js';
import { EXIT, UserError } from '../errors.js';
import { clusterError, loadKubeConfig } from '../kube/client.js';
import { getMetadata, isKubeError, isNotFound, listObjects } from '../kube/http.js';
import { Informer } from '../kube/informer.js';
import { RESOURCES, type KubeObject } from '../kube/resources.js';
import { LABEL } from '../render/labels.js';
import { formatOutput } from './common.js';
import { usableStatus, type LLMClusterStatus } from '../controller/types.js';

export interface StatusOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  output?: 'table' | 'json' | 'yaml';
  watch?: boolean;
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
      throw new UserError(
        `the LLMCluster CRD is not installed on ${kc.getCurrentCluster()?.server ?? 'this cluster'}`,
        EXIT.cluster,
        'install the controller: kubectl apply -f manifests/crds && kubectl apply -k manifests/controller (or pick the management cluster with --context)',
      );
    }
    throw clusterError(kc, 'cannot list LLMClusters', e);
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
  if (output === 'json' || output === 'yaml') return formatOutput(items.map((o) => ({ namespace: o.metadata.namespace, name: o.metadata.name, status: o.status ?? null })), output);
  return items.length === 0 ? 'no LLMClusters found (is `llmstack controller` running?)' : formatTable(items);
}

/** What a reader sees change: the AGE column's ticking and a new resourceVersion alone do not count. */
const shownKey = (items: LLMClusterObject[]) => JSON.stringify(items.map((i) => [i.metadata.namespace, i.metadata.name, i.metadata.creationTimestamp, i.status]));

const sorted = (items: LLMClusterObject[]) =>
  [...items].sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));

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
 * `undefined` when it cannot tell (no Fleet, the server busy); a line of text when Bundles or Secrets may
 * not be read.
 */
export async function missingBundleSecrets(kc: KubeClientConfig): Promise<MissingSecret[] | string | undefined> {
  let bundles: BundleWithDownstream[];
  try {
    bundles = (await listObjects(kc, RESOURCES.fleetBundle, { labelSelector: LABEL.stack })).items as unknown as BundleWithDownstream[];
  } catch (e) {
    // Best effort beside the reports: a missing Fleet or a server still starting up is not worth a line.
    if (isKubeError(e, 403)) return `cannot list Fleet Bundles to check their Secrets: ${(e as Error).message}`;
    return undefined;
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
      if (!(await getMetadata(kc, RESOURCES.secret, m.namespace, m.name))) missing.push({ ...m, bundles: m.bundles.sort() });
    } catch (e) {
      if (isKubeError(e, 403)) return `cannot check the Secrets the bundles need: ${(e as Error).message}`;
      return undefined;
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

export async function statusCommand(o: StatusOptions, print: (s: string) => void, signal?: AbortSignal, note: (s: string) => void = () => undefined): Promise<number> {
  const kc = await loadKubeConfig(o.kubeconfig, o.context);
  const namespace = o.allNamespaces ? undefined : o.namespace;
  // The first answer comes from a list, so an unreachable server or a missing CRD is an error (exit 5)
  // rather than a watch retrying in silence.
  const items = await listReports(kc, namespace);
  // The table also names Secrets the bundles need and Fleet cannot find; json/yaml stay the reports.
  const found = o.output === 'json' || o.output === 'yaml' ? undefined : await missingBundleSecrets(kc);
  print(`${render(items, o.output)}${formatMissingSecrets(found)}`);
  const missing = Array.isArray(found) && found.length > 0;
  if (!o.watch) return items.every((i) => usableStatus(i.status)?.phase === 'Ready') && !missing ? EXIT.ok : EXIT.changes;
  await watchReports(kc, namespace, items, (now) => print(render(now, o.output)), signal, note);
  return EXIT.ok;
}

/**
 * Follows the reports with an informer (list, then watch; re-list on 410, re-watch with backoff when the
 * connection breaks) and calls show when what is shown changed from `shown` (what is on screen), until
 * signal aborts.
 */
export async function watchReports(
  kc: KubeClientConfig,
  namespace: string | undefined,
  shown: LLMClusterObject[],
  show: (items: LLMClusterObject[]) => void,
  signal: AbortSignal | undefined,
  note: (s: string) => void,
): Promise<void> {
  const informer = new Informer<KubeObject>(kc, RESOURCES.llmCluster, { ...(namespace ? { namespace } : {}), log: (level, message) => note(`${level}: ${message}`) });
  let last = shownKey(shown);
  let timer: NodeJS.Timeout | undefined;
  // Events come in bursts (the informer's own first list replays every object): show once per burst.
  const changed = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      const items = sorted(informer.list() as unknown as LLMClusterObject[]);
      const key = shownKey(items);
      if (key !== last) show(items);
      last = key;
    }, 50);
  };
  informer.on('add', changed).on('update', changed).on('delete', changed);
  try {
    await new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
      void informer.start();
    });
  } finally {
    clearTimeout(timer);
    await informer.stop();
  }
}
