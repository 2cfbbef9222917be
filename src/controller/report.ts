// The one place an LLMCluster status is computed: from the objects as the API server returns them
// (CAPI Cluster, its Namespace, the Rancher cluster Turtles created, Fleet Bundles and
// BundleDeployments, GitRepos, MachineDeployments) and the autoscaler's own status. Pure: no client,
// no IO, no clock (`now` is a parameter), so the same inputs always give a byte-identical status and
// a steady state never makes the controller write.
//
// Upstream shapes read here (checked against the CRDs of CAPI v1.14, Fleet v0.16, Turtles):
// - CAPI Cluster v1beta2: status.phase, status.conditions[] (ControlPlaneAvailable,
//   RemoteConnectionProbe, ...), status.deprecated.v1beta1.{failureReason,failureMessage,conditions};
//   v1beta1: status.controlPlaneReady, status.failureReason/failureMessage, status.conditions[]
//   (ControlPlaneReady, ...), status.v1beta2.conditions[]. Both are read, whichever is present.
// - management.cattle.io/v3 Cluster: labels cluster-api.cattle.io/capi-cluster-owner(-ns), conditions
//   AgentDeployed and Ready (rancher/turtles api/rancher/management/v3), failures as reason "Error"
//   (Rancher's wrangler conditions) or severity "Error" (CAPI-style conditions in Turtles' test CRD).
// - Fleet BundleDeployment: status.display.state, else the state computed as Fleet's own
//   summary.GetDeploymentState does from spec.deploymentID/stagedDeploymentID,
//   status.appliedDeploymentID/ready/nonModified and the Deployed condition; its message as Fleet's
//   MessageFromDeployment (Deployed, then Installed, then Monitored condition); nonReadyStatus[] and
//   modifiedStatus[]; labels fleet.cattle.io/bundle-name and bundle-namespace.
// - MachineDeployment: labels cluster.x-k8s.io/cluster-name and topology.cluster.x-k8s.io/deployment-name,
//   spec.replicas, status.readyReplicas (v1beta2 and v1beta1; v1beta1 objects also carry
//   status.v1beta2.readyReplicas), the autoscaler's min/max-size annotations.
import { LABEL, UPSTREAM } from '../render/labels.js';
import { TURTLES, autoImportLabel } from './autoimport.js';
import { autoscalerGroupFor, rfc3339Millis } from './autoscaler-status.js';
import {
  BUNDLE_STATES,
  CONDITION,
  type AutoscalerGroupView,
  type AutoscalerStatus,
  type BundleReport,
  type BundleState,
  type Condition,
  type ConditionType,
  type ImportState,
  type LLMClusterStatus,
  type NodePoolReport,
  type NonReadyResource,
  type Phase,
} from './types.js';

/** Any Kubernetes object as plain JSON; only what the report reads is spelled out. */
export interface ObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string | Date;
    generation?: number;
  };
  spec?: unknown;
  status?: unknown;
}

/** What the controller learnt about the cluster-autoscaler of this cluster. */
export type AutoscalerObservation =
  | { kind: 'status'; status: AutoscalerStatus }
  | { kind: 'unparseable'; error: string }
  /** No cluster-autoscaler-status ConfigMap. */
  | { kind: 'notDeployed'; message?: string }
  /** The workload cluster could not be asked (no kubeconfig yet, unreachable). */
  | { kind: 'unreachable'; message?: string };

/** parseAutoscalerStatus()'s result as an observation. */
export function observedAutoscaler(parsed: AutoscalerStatus | { error: string }): AutoscalerObservation {
  return 'error' in parsed ? { kind: 'unparseable', error: parsed.error } : { kind: 'status', status: parsed };
}

export interface ReportInput {
  /** The CAPI Cluster (v1beta2 or v1beta1). */
  cluster: ObjectLike;
  namespace?: ObjectLike;
  /** 'rancher' (Turtles auto-import, the default) or 'none' (the stack does not import into Rancher). */
  importMode?: 'rancher' | 'none';
  /** management.cattle.io/v3 Clusters; only those Turtles labelled as this cluster's are used. */
  rancherClusters?: ObjectLike[];
  /** Fleet Bundles targeting the cluster (llmstack's are also matched against the Cluster's bundle labels). */
  bundles?: ObjectLike[];
  /** This cluster's BundleDeployments (those in its Fleet cluster namespace). */
  bundleDeployments?: ObjectLike[];
  gitRepos?: ObjectLike[];
  /** MachineDeployments; only those labelled with this cluster's name are used. */
  machineDeployments?: ObjectLike[];
  /** Absent: not observed yet. */
  autoscaler?: AutoscalerObservation;
  /** metadata.generation of the LLMCluster, copied into observedGeneration. */
  observedGeneration?: number;
  /** A status whose lastProbeTime is older than this is stale: the autoscaler stopped. Default 300. */
  autoscalerStaleAfterSeconds?: number;
  /**
   * Secrets of secretsNeeded() that the controller found missing on the management cluster (absent:
   * not checked). Fleet v0.16.1 says nothing about them itself (see secretsNeeded).
   */
  missingSecrets?: { namespace: string; name: string }[];
}

/** Condition reasons: constants, so scripts and alerts can rely on them. */
export const REASON = {
  // Provisioned
  ControlPlaneAvailable: 'ControlPlaneAvailable',
  WaitingForControlPlane: 'WaitingForControlPlane',
  ClusterFailed: 'ClusterFailed',
  // Imported
  ImportDisabled: 'ImportDisabled',
  ImportOptedOut: 'ImportOptedOut',
  WaitingForRancherCluster: 'WaitingForRancherCluster',
  WaitingForAgentDeployment: 'WaitingForAgentDeployment',
  WaitingForAgentReady: 'WaitingForAgentReady',
  AgentReady: 'AgentReady',
  ImportFailed: 'ImportFailed',
  // BundlesReady
  AllBundlesReady: 'AllBundlesReady',
  NoBundles: 'NoBundles',
  BundlesFailed: 'BundlesFailed',
  BundlesModified: 'BundlesModified',
  BundlesNotReady: 'BundlesNotReady',
  SecretsMissing: 'SecretsMissing',
  // AutoscalerHealthy
  Healthy: 'Healthy',
  NotRequired: 'NotRequired',
  Unhealthy: 'Unhealthy',
  NoRecentProbe: 'NoRecentProbe',
  Initializing: 'Initializing',
  StatusNotFound: 'StatusNotFound',
  StatusUnknown: 'StatusUnknown',
  StatusUnparseable: 'StatusUnparseable',
  // Ready: 'Ready' or the phase that keeps the cluster from it.
  Ready: 'Ready',
} as const;

const FLEET = {
  bundleName: 'fleet.cattle.io/bundle-name',
  bundleNamespace: 'fleet.cattle.io/bundle-namespace',
  repoName: 'fleet.cattle.io/repo-name',
} as const;

const CAPI = {
  clusterName: 'cluster.x-k8s.io/cluster-name',
  deploymentName: 'topology.cluster.x-k8s.io/deployment-name',
} as const;

const DEFAULT_STALE_SECONDS = 300;
const MAX_CONDITION_MESSAGE = 32768;
const MAX_NON_READY = 10;

export function computeReport(input: ReportInput, previous: LLMClusterStatus | undefined, now: string): LLMClusterStatus {
  const at = normalizeNow(now);
  const c = clusterFacts(input.cluster);
  const imp = importReport(input, c);
  const nodePools = poolReports(input, c);
  const nodes = nodesSummary(nodePools);
  const bundles = bundleReport(input, c);
  const auto = autoscalerReport(input, nodePools, at, c.namespace);
  const { phase, message } = phaseOf(c, imp, bundles, auto, nodes.summary);

  const wanted: { type: ConditionType; status: Condition['status']; reason: string; message: string }[] = [
    provisionedCondition(c),
    importedCondition(imp),
    bundlesCondition(bundles),
    { type: CONDITION.AutoscalerHealthy, ...auto.condition },
    phase === 'Ready'
      ? { type: CONDITION.Ready, status: 'True', reason: REASON.Ready, message: message ?? '' }
      : { type: CONDITION.Ready, status: 'False', reason: phase, message: message ?? '' },
  ];
  const before = Array.isArray(previous?.conditions) ? previous.conditions : [];
  const conditions: Condition[] = wanted.map((w) => {
    const prev = before.find((p) => p?.type === w.type);
    // Kubernetes convention: the time moves only when the status does, not the reason or message.
    const lastTransitionTime = prev && prev.status === w.status && typeof prev.lastTransitionTime === 'string' ? prev.lastTransitionTime : at;
    return compact({
      type: w.type,
      status: w.status,
      observedGeneration: input.observedGeneration,
      lastTransitionTime,
      reason: w.reason,
      message: clip(w.message, MAX_CONDITION_MESSAGE),
    });
  });

  return compact({
    observedGeneration: input.observedGeneration,
    phase,
    message,
    clusterPhase: c.phase,
    controlPlaneReady: c.controlPlaneReady,
    import: compact({ state: imp.state, rancherCluster: imp.rancherCluster, message: imp.message }),
    bundles: compact({ summary: `${bundles.ready}/${bundles.total}`, ready: bundles.ready, total: bundles.total, commit: bundles.commit, items: bundles.items }),
    missingSecrets: bundles.missingSecrets.length > 0 ? bundles.missingSecrets : undefined,
    nodes,
    nodePools,
    autoscaler: auto.report,
    conditions,
  });
}

// ------------------------------------------------------------------------------------ the Cluster

interface ClusterFacts {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  deleting: boolean;
  phase?: string;
  controlPlaneReady: boolean;
  /** Why the control plane is not available, as CAPI says. */
  controlPlaneMessage?: string;
  /** Set when CAPI reports the Cluster failed. */
  failure?: string;
  /** Set when CAPI cannot reach the workload cluster's API server. */
  unreachable?: string;
}

type RawCondition = { type?: unknown; status?: unknown; reason?: unknown; message?: unknown; severity?: unknown };

function clusterFacts(cluster: ObjectLike): ClusterFacts {
  const status = rec(cluster.status);
  const deprecated = rec(rec(status.deprecated).v1beta1);
  // v1beta2 objects: status.conditions are v1beta2 conditions, the old ones sit under deprecated.v1beta1;
  // v1beta1 objects: the reverse, the new ones under status.v1beta2. Type names differ between the two.
  const lists = [list(status.conditions), list(rec(status.v1beta2).conditions), list(deprecated.conditions)];
  const cond = (type: string): RawCondition | undefined => {
    for (const l of lists) {
      const found = l.find((x) => rec(x).type === type);
      if (found) return rec(found);
    }
    return undefined;
  };
  const available = cond('ControlPlaneAvailable');
  const ready = cond('ControlPlaneReady');
  const controlPlaneReady = available?.status === 'True' || status.controlPlaneReady === true || ready?.status === 'True';
  const phase = str(status.phase);
  const failureReason = str(status.failureReason) ?? str(deprecated.failureReason);
  const failureMessage = str(status.failureMessage) ?? str(deprecated.failureMessage);
  const failure =
    failureReason || failureMessage
      ? [failureReason, failureMessage].filter(Boolean).join(': ')
      : phase === 'Failed'
        ? 'CAPI reports phase Failed'
        : undefined;
  const probe = cond('RemoteConnectionProbe');
  return {
    name: cluster.metadata?.name ?? '',
    namespace: cluster.metadata?.namespace ?? '',
    labels: strMap(cluster.metadata?.labels),
    annotations: strMap(cluster.metadata?.annotations),
    deleting: !!cluster.metadata?.deletionTimestamp,
    phase,
    controlPlaneReady,
    controlPlaneMessage: controlPlaneReady ? undefined : (str(available?.message) ?? str(ready?.message)),
    failure,
    unreachable: probe?.status === 'False' ? (str(probe.message) ?? 'RemoteConnectionProbe is False') : undefined,
  };
}

// ------------------------------------------------------------------------------ Rancher import

interface ImportReport {
  state: ImportState;
  rancherCluster?: string;
  message?: string;
}

function importReport(input: ReportInput, c: ClusterFacts): ImportReport {
  if (c.labels[LABEL.importStrategy] === 'caapf') {
    return { state: 'Disabled', message: 'registered with Fleet by the Fleet add-on provider (CAAPF), not imported into Rancher' };
  }
  if ((input.importMode ?? 'rancher') !== 'rancher') return { state: 'Disabled', message: 'the stack does not import its clusters into Rancher' };
  const owned = (input.rancherClusters ?? [])
    .filter((r) => r.metadata?.labels?.[TURTLES.ownerName] === c.name && r.metadata?.labels?.[TURTLES.ownerNamespace] === c.namespace)
    .sort((a, b) => cmp(a.metadata?.name ?? '', b.metadata?.name ?? ''));
  const rc = owned.find((r) => !r.metadata?.deletionTimestamp) ?? owned[0];
  if (rc) {
    const rancherCluster = rc.metadata?.name;
    if (rc.metadata?.deletionTimestamp) {
      // Turtles then annotates the CAPI Cluster `imported` and will not import it again.
      return { state: 'OptedOut', rancherCluster, message: `Rancher cluster ${rancherCluster} is being deleted; Turtles will not import the cluster again` };
    }
    const conds = list(rec(rc.status).conditions).map((x) => rec(x) as RawCondition);
    const failed = conds
      .filter((x) => x.status !== 'True' && (x.reason === 'Error' || x.severity === 'Error'))
      .sort((a, b) => cmp(String(a.type), String(b.type)))[0];
    if (failed) return { state: 'Failed', rancherCluster, message: `Rancher reports ${String(failed.type)}: ${str(failed.message) ?? 'Error'}` };
    const get = (type: string) => conds.find((x) => x.type === type);
    if (get('Ready')?.status === 'True') return { state: 'AgentReady', rancherCluster, message: `imported into Rancher as ${rancherCluster}` };
    if (get('AgentDeployed')?.status === 'True') {
      const why = str(get('Ready')?.message);
      return { state: 'Imported', rancherCluster, message: `Rancher agent deployed, waiting for it to become ready${why ? `: ${why}` : ''}` };
    }
    return { state: 'Importing', rancherCluster, message: `Rancher cluster ${rancherCluster} created, waiting for Turtles to deploy the agent` };
  }

  if (c.annotations[TURTLES.importedAnnotation] !== undefined) {
    return { state: 'OptedOut', message: `the Cluster has the annotation "${TURTLES.importedAnnotation}": Turtles does not import it` };
  }
  const key = UPSTREAM.rancherAutoImport;
  // The Cluster's own value, when it has one, is final; only then does the Namespace's count.
  const own = autoImportLabel({ metadata: { labels: c.labels } });
  if (own.set && own.value === false) return { state: 'OptedOut', message: `the Cluster has ${key}=${own.raw}` };
  if (own.set && own.value === undefined) return { state: 'OptedOut', message: `the Cluster has ${key}="${own.raw}", which Turtles reads as false` };
  if (!own.set) {
    const ns = autoImportLabel(input.namespace);
    if (ns.set && ns.value === false) return { state: 'OptedOut', message: `Namespace ${c.namespace} has ${key}=${ns.raw}` };
    if (!ns.set || ns.value !== true) {
      const odd = ns.set ? ` (Namespace ${c.namespace} has "${ns.raw}", which Turtles ignores)` : '';
      return { state: 'Disabled', message: `neither the Cluster nor Namespace ${c.namespace} has ${key}=true${odd}` };
    }
  }
  if (!c.controlPlaneReady) return { state: 'WaitingForControlPlane', message: 'Turtles imports the cluster once its control plane is available' };
  return { state: 'Pending', message: 'waiting for Turtles to create the Rancher cluster' };
}

function importedCondition(imp: ImportReport): { type: ConditionType; status: Condition['status']; reason: string; message: string } {
  const reasons: Record<ImportState, string> = {
    Disabled: REASON.ImportDisabled,
    OptedOut: REASON.ImportOptedOut,
    WaitingForControlPlane: REASON.WaitingForControlPlane,
    Pending: REASON.WaitingForRancherCluster,
    Importing: REASON.WaitingForAgentDeployment,
    Imported: REASON.WaitingForAgentReady,
    AgentReady: REASON.AgentReady,
    Failed: REASON.ImportFailed,
  };
  return { type: CONDITION.Imported, status: imp.state === 'AgentReady' ? 'True' : 'False', reason: reasons[imp.state], message: imp.message ?? '' };
}

/** Import states that still lead to an import; the others mean "not through Rancher". */
function importApplies(state: ImportState): boolean {
  return state !== 'Disabled' && state !== 'OptedOut';
}

// ------------------------------------------------------------------------------------ bundles

interface BundlesResult {
  ready: number;
  total: number;
  commit?: string;
  items: BundleReport[];
  /** Secrets missing on the management cluster, with the bundles that need them. */
  missingSecrets: SecretNeed[];
}

/** A Secret that Fleet copies from a Bundle's namespace for this cluster, and the bundles that name it. */
export interface SecretNeed {
  namespace: string;
  name: string;
  bundles: string[];
}

// Fleet's StateRank; a state we cannot read ranks as still progressing.
const RANK: Record<BundleState, number> = { ErrApplied: 7, WaitApplied: 6, Modified: 5, OutOfSync: 4, Pending: 3, Unknown: 2.5, NotReady: 2, Ready: 1 };

interface BundleRow {
  name: string;
  namespace?: string;
  bundle?: ObjectLike;
  deployments: ObjectLike[];
}

/** The bundles that concern this cluster: those deployed to it, and llmstack's that it asks for. */
function bundleRows(input: ReportInput, c: ClusterFacts): { rows: BundleRow[]; expected: Set<string> } {
  const expected = new Set(
    Object.entries(c.labels)
      .filter(([k, v]) => k.startsWith(LABEL.bundlePrefix) && v === 'true')
      .map(([k]) => k.slice(LABEL.bundlePrefix.length)),
  );
  const stack = c.labels[LABEL.stack];
  const rows: BundleRow[] = [];
  for (const b of input.bundles ?? []) {
    const name = b.metadata?.name;
    if (!name || rows.some((r) => r.name === name && r.namespace === b.metadata?.namespace)) continue;
    rows.push({ name, namespace: b.metadata?.namespace, bundle: b, deployments: [] });
  }
  for (const bd of input.bundleDeployments ?? []) {
    const labels = bd.metadata?.labels ?? {};
    const name = labels[FLEET.bundleName] ?? bd.metadata?.name;
    if (!name) continue;
    const ns = labels[FLEET.bundleNamespace];
    let row = rows.find((r) => r.name === name && (ns === undefined || r.namespace === ns));
    if (!row) rows.push((row = { name, namespace: ns, deployments: [] }));
    row.deployments.push(bd);
  }
  const kept = rows.filter((r) => {
    if (r.deployments.length > 0) return true;
    const labels = r.bundle?.metadata?.labels ?? {};
    const otherStack = stack !== undefined && labels[LABEL.stack] !== undefined && labels[LABEL.stack] !== stack;
    const llm = labels[LABEL.bundle];
    // An llmstack bundle without a deployment here counts only if the Cluster asks for it.
    return !otherStack && (llm === undefined || expected.size === 0 || expected.has(llm));
  });
  return { rows: kept, expected };
}

/** Secret names in a downstreamResources list (Fleet compares kinds case-insensitively). */
function secretNames(v: unknown): string[] {
  return list(v)
    .map(rec)
    .filter((r) => str(r.kind)?.toLowerCase() === 'secret' && str(r.name))
    .map((r) => r.name as string);
}

/** The Secrets one bundle row needs copied from its Bundle's namespace. */
function rowSecrets(r: BundleRow): string[] {
  // A BundleDeployment carries the options Fleet merged for this cluster (the Bundle's and the
  // matching targetCustomization's); Fleet's Bundle controller clones exactly those. Before Fleet has
  // made one, the Bundle's own list is what every cluster gets.
  const names = r.deployments.length > 0 ? r.deployments.flatMap((bd) => secretNames(rec(rec(bd.spec).options).downstreamResources)) : secretNames(rec(r.bundle?.spec).downstreamResources);
  return [...new Set(names)];
}

/**
 * The Secrets Fleet must copy from the management cluster for this cluster's bundles
 * (downstreamResources). Fleet v0.16.1 reports none of them when missing: its Bundle controller
 * (internal/cmd/controller/reconciler/bundle_controller.go, handleDownstreamObjects) returns a
 * retryable error that is only logged and requeued, and the agent's copy fails the same way, so the
 * Bundle and BundleDeployment status stay silent. The controller checks them itself.
 */
export function secretsNeeded(input: ReportInput): SecretNeed[] {
  const { rows } = bundleRows(input, clusterFacts(input.cluster));
  const out = new Map<string, SecretNeed>();
  for (const r of rows) {
    if (!r.namespace) continue;
    for (const name of rowSecrets(r)) {
      const key = `${r.namespace}/${name}`;
      const need = out.get(key) ?? { namespace: r.namespace, name, bundles: [] };
      if (!need.bundles.includes(r.name)) need.bundles.push(r.name);
      out.set(key, need);
    }
  }
  return [...out.values()].map((n) => ({ ...n, bundles: n.bundles.sort(cmp) })).sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
}

function bundleReport(input: ReportInput, c: ClusterFacts): BundlesResult {
  const { rows: kept, expected } = bundleRows(input, c);
  const missing = new Set((input.missingSecrets ?? []).map((m) => `${m.namespace}/${m.name}`));
  const labelOf = (r: BundleRow) => r.bundle?.metadata?.labels?.[LABEL.bundle] ?? r.deployments[0]?.metadata?.labels?.[LABEL.bundle];
  const missingOf = (r: BundleRow) =>
    r.namespace
      ? rowSecrets(r)
          .map((n) => `${r.namespace}/${n}`)
          .filter((k) => missing.has(k))
          .sort(cmp)
      : [];

  const items: BundleReport[] = kept.map((r) => {
    const item = bundleRow(r.name, r.namespace, labelOf(r), r.bundle, r.deployments);
    const lacking = missingOf(r);
    // Fleet's own message would be empty or stale: the Secret is what holds this bundle back.
    if (item.state !== 'Ready' && lacking.length > 0) {
      item.message = `waiting for ${secretList(lacking)} on the management cluster (Fleet copies ${lacking.length === 1 ? 'it' : 'them'} to the cluster from there)`;
    }
    return item;
  });
  for (const e of [...expected].sort()) {
    if (!items.some((i) => i.bundle === e)) {
      items.push({ name: e, bundle: e, state: 'Pending', message: 'Fleet has not created this bundle yet' });
    }
  }
  // `name` is the list-map key of the CRD: bundles of the same name in two namespaces get the
  // namespace in front, or the API server would refuse the whole status.
  const counts = new Map<string, number>();
  for (const i of items) counts.set(i.name, (counts.get(i.name) ?? 0) + 1);
  for (const i of items) if ((counts.get(i.name) ?? 0) > 1 && i.namespace) i.name = `${i.namespace}/${i.name}`;
  items.sort((a, b) => RANK[b.state] - RANK[a.state] || cmp(a.name, b.name) || cmp(a.namespace ?? '', b.namespace ?? ''));
  const table = items.filter((i, n) => items.findIndex((j) => j.name === i.name) === n);

  const repos = new Set(kept.map((r) => r.bundle?.metadata?.labels?.[FLEET.repoName]).filter((x): x is string => !!x));
  const nsOf = new Set(kept.map((r) => r.namespace).filter((x): x is string => !!x));
  const gitRepos = (input.gitRepos ?? []).filter(
    (g) => repos.size === 0 || (repos.has(g.metadata?.name ?? '') && (nsOf.size === 0 || nsOf.has(g.metadata?.namespace ?? ''))),
  );
  const commits = [...new Set(gitRepos.map((g) => str(rec(g.status).commit)).filter((x): x is string => !!x))].sort();
  const ready = table.filter((i) => i.state === 'Ready').length;
  const missingSecrets = secretsNeeded(input).filter((n) => missing.has(`${n.namespace}/${n.name}`));
  return { ready, total: table.length, commit: commits.length > 0 ? commits.join(',') : undefined, items: table, missingSecrets };
}

function secretList(keys: string[]): string {
  return `${keys.length === 1 ? 'Secret' : 'Secrets'} ${keys.join(', ')}`;
}

/** "fleet-default/a (needed by litellm), ..." */
function describeMissing(m: SecretNeed[]): string {
  return m.map((n) => `${n.namespace}/${n.name} (needed by ${n.bundles.join(', ')})`).join(', ');
}

const SECRETS_FIX = '`llmstack secrets --spec FILE` makes llmstack\'s own and names the rest';

function bundleRow(name: string, namespace: string | undefined, label: string | undefined, bundle: ObjectLike | undefined, deployments: ObjectLike[]): BundleReport {
  if (deployments.length === 0) {
    // Fleet records errors that keep it from creating deployments (a chart it cannot fetch, a bad
    // fleet.yaml) on the Bundle itself.
    const err = list(rec(bundle?.status).conditions)
      .map((x) => rec(x) as RawCondition)
      .find((x) => x.status !== 'True' && x.reason === 'Error' && str(x.message));
    return compact({ name, bundle: label, namespace, state: 'Pending' as const, message: str(err?.message) ?? 'no BundleDeployment for this cluster yet' });
  }
  const states = deployments.map((bd) => ({ bd, state: deploymentState(bd) }));
  states.sort((a, b) => RANK[b.state] - RANK[a.state]);
  const { bd, state } = states[0]!;
  if (state === 'Ready') return compact({ name, bundle: label, namespace, state });
  const nonReady = nonReadyResources(bd);
  return compact({ name, bundle: label, namespace, state, message: deploymentMessage(bd), nonReadyResources: nonReady.length > 0 ? nonReady : undefined });
}

/** Fleet's state of one BundleDeployment: its display, else Fleet's summary.GetDeploymentState. */
export function deploymentState(bd: ObjectLike): BundleState {
  const status = rec(bd.status);
  const shown = str(rec(status.display).state);
  if (shown && (BUNDLE_STATES as readonly string[]).includes(shown)) return shown as BundleState;
  const spec = rec(bd.spec);
  const deploymentID = str(spec.deploymentID);
  if (deploymentID === undefined) return 'Unknown';
  if ((str(status.appliedDeploymentID) ?? '') !== deploymentID) {
    const deployed = list(status.conditions).map((x) => rec(x)).find((x) => x.type === 'Deployed');
    return deployed?.status === 'False' ? 'ErrApplied' : 'WaitApplied';
  }
  if (status.ready !== true) return 'NotReady';
  if ((str(spec.stagedDeploymentID) ?? deploymentID) !== deploymentID) return 'OutOfSync';
  if (status.nonModified !== true) return 'Modified';
  return 'Ready';
}

function deploymentMessage(bd: ObjectLike): string | undefined {
  const conds = list(rec(bd.status).conditions).map((x) => rec(x));
  for (const type of ['Deployed', 'Installed', 'Monitored']) {
    const m = str(conds.find((x) => x.type === type)?.message);
    if (m) return m;
  }
  return undefined;
}

function nonReadyResources(bd: ObjectLike): NonReadyResource[] {
  const status = rec(bd.status);
  const out: NonReadyResource[] = [];
  for (const x of list(status.nonReadyStatus).map(rec)) {
    const s = rec(x.summary);
    const messages = list(s.message).filter((m): m is string => typeof m === 'string' && m !== '');
    const state = str(s.state) ?? (s.error === true ? 'error' : 'not ready');
    out.push(compact({ kind: str(x.kind), namespace: str(x.namespace), name: str(x.name), summary: messages.length > 0 ? `${state}: ${messages.join('; ')}` : state }));
  }
  for (const x of list(status.modifiedStatus).map(rec)) {
    // The names Fleet's ModifiedStatus.String() uses: missing (to create), extra (to delete), modified.
    const summary = x.missing === true ? 'missing' : x.delete === true ? 'extra' : 'modified';
    out.push(compact({ kind: str(x.kind), namespace: str(x.namespace), name: str(x.name), summary }));
  }
  out.sort((a, b) => cmp(a.kind ?? '', b.kind ?? '') || cmp(a.namespace ?? '', b.namespace ?? '') || cmp(a.name ?? '', b.name ?? '') || cmp(a.summary ?? '', b.summary ?? ''));
  return out.slice(0, MAX_NON_READY);
}

function bundlesCondition(b: BundlesResult): { type: ConditionType; status: Condition['status']; reason: string; message: string } {
  const type = CONDITION.BundlesReady;
  if (b.total === 0) return { type, status: 'True', reason: REASON.NoBundles, message: 'no Fleet bundle targets this cluster' };
  if (b.ready === b.total) return { type, status: 'True', reason: REASON.AllBundlesReady, message: `${b.ready}/${b.total} bundles ready` };
  const notReady = b.items.filter((i) => i.state !== 'Ready');
  if (b.missingSecrets.length > 0 && !notReady.some((i) => i.state === 'ErrApplied' || i.state === 'Modified')) {
    const message = `missing on the management cluster: ${describeMissing(b.missingSecrets)}; ${SECRETS_FIX}. ${b.ready}/${b.total} bundles ready`;
    return { type, status: 'False', reason: REASON.SecretsMissing, message };
  }
  const reason = notReady.some((i) => i.state === 'ErrApplied')
    ? REASON.BundlesFailed
    : notReady.some((i) => i.state === 'Modified')
      ? REASON.BundlesModified
      : REASON.BundlesNotReady;
  const message = `${b.ready}/${b.total} bundles ready; ` + notReady.map((i) => `${i.name}: ${i.state}${i.message ? ` (${i.message})` : ''}`).join('; ');
  return { type, status: 'False', reason, message };
}

// --------------------------------------------------------------------------------- node pools

function poolReports(input: ReportInput, c: ClusterFacts): NodePoolReport[] {
  const status = input.autoscaler?.kind === 'status' ? input.autoscaler.status : undefined;
  const mds = (input.machineDeployments ?? [])
    .filter((md) => {
      const m = md.metadata;
      const owner = m?.labels?.[CAPI.clusterName] ?? str(rec(md.spec).clusterName);
      return owner === c.name && (m?.namespace === undefined || m.namespace === c.namespace) && !!m?.name;
    })
    .sort((a, b) => cmp(a.metadata!.name!, b.metadata!.name!));
  const pools: NodePoolReport[] = [];
  for (const md of mds) {
    const mdName = md.metadata!.name!;
    let name = md.metadata?.labels?.[CAPI.deploymentName] ?? mdName;
    if (pools.some((p) => p.name === name)) name = mdName;
    if (pools.some((p) => p.name === name)) continue;
    const annotations = md.metadata?.annotations ?? {};
    const st = rec(md.status);
    const group = status ? autoscalerGroupFor(status, mdName, c.namespace) : undefined;
    let view: AutoscalerGroupView | undefined;
    if (group) {
      const { name: _n, minSize: _min, maxSize: _max, ...rest } = group;
      view = compact({ ...rest });
    }
    pools.push(
      compact({
        name,
        machineDeployment: mdName,
        min: intText(annotations[UPSTREAM.autoscalerMin]),
        max: intText(annotations[UPSTREAM.autoscalerMax]),
        replicas: int(rec(md.spec).replicas),
        // omitempty upstream: no readyReplicas means none is ready yet.
        readyReplicas: int(st.readyReplicas) ?? int(rec(st.v1beta2).readyReplicas) ?? int(rec(rec(st.deprecated).v1beta1).readyReplicas) ?? 0,
        autoscaler: view,
      }),
    );
  }
  // Pools of the topology CAPI has not made MachineDeployments for yet: known from the start, with
  // nothing ready, so the range and the autoscaler's necessity show before the first Machine.
  const topology = list(rec(rec(rec(input.cluster.spec).topology).workers).machineDeployments).map(rec);
  for (const t of topology) {
    const name = str(t.name);
    if (!name || pools.some((p) => p.name === name)) continue;
    const annotations = strMap(rec(t.metadata).annotations);
    pools.push(
      compact({
        name,
        min: intText(annotations[UPSTREAM.autoscalerMin]),
        max: intText(annotations[UPSTREAM.autoscalerMax]),
        replicas: int(t.replicas),
        readyReplicas: 0,
      }),
    );
  }
  return pools.sort((a, b) => cmp(a.name, b.name));
}

function autoscaled(p: NodePoolReport): p is NodePoolReport & { min: number; max: number } {
  return p.min !== undefined && p.max !== undefined;
}

/** Ready worker nodes, and the range the pools may scale in (a fixed pool counts its replicas). */
function nodesSummary(pools: NodePoolReport[]): LLMClusterStatus['nodes'] {
  const ready = pools.reduce((n, p) => n + (p.readyReplicas ?? 0), 0);
  const desired = pools.reduce((n, p) => n + (p.replicas ?? 0), 0);
  if (!pools.some(autoscaled)) return { summary: `${ready}`, ready, desired };
  const min = pools.reduce((n, p) => n + (autoscaled(p) ? p.min : (p.replicas ?? 0)), 0);
  const max = pools.reduce((n, p) => n + (autoscaled(p) ? p.max : (p.replicas ?? 0)), 0);
  return { summary: `${ready} (${min}..${max})`, ready, desired, min, max };
}

// --------------------------------------------------------------------------------- autoscaler

function autoscalerReport(
  input: ReportInput,
  pools: NodePoolReport[],
  now: string,
  namespace: string,
): { report: LLMClusterStatus['autoscaler']; condition: { status: Condition['status']; reason: string; message: string } } {
  const needed = pools.some(autoscaled);
  const obs = input.autoscaler;
  const notRequired = { status: 'True' as const, reason: REASON.NotRequired, message: 'no node pool is autoscaled' };
  if (!obs || obs.kind === 'unreachable') {
    const message = obs?.message;
    return {
      report: compact({ health: 'Unknown' as const, message }),
      condition: needed ? { status: 'Unknown', reason: REASON.StatusUnknown, message: message ?? 'the autoscaler status has not been read yet' } : notRequired,
    };
  }
  if (obs.kind === 'notDeployed') {
    const message = obs.message ?? 'no cluster-autoscaler-status ConfigMap in the workload cluster';
    return {
      report: { health: 'NotDeployed', message },
      condition: needed ? { status: 'Unknown', reason: REASON.StatusNotFound, message } : notRequired,
    };
  }
  if (obs.kind === 'unparseable') {
    return { report: { health: 'Unparseable', message: obs.error }, condition: { status: 'Unknown', reason: REASON.StatusUnparseable, message: obs.error } };
  }
  const s = obs.status;
  if (s.autoscalerStatus === 'Initializing') {
    const message = 'the cluster-autoscaler is initializing';
    return { report: { health: 'Unknown', format: s.format, message }, condition: { status: 'Unknown', reason: REASON.Initializing, message } };
  }
  // lastProbeTime moves on every autoscaler loop (about every 10 s), so it goes into the report only
  // when it has stopped moving: otherwise every loop would rewrite the LLMCluster status.
  const probe = s.lastProbeTime ? rfc3339Millis(s.lastProbeTime) : undefined;
  const nowMs = rfc3339Millis(now);
  const staleAfter = (input.autoscalerStaleAfterSeconds ?? DEFAULT_STALE_SECONDS) * 1000;
  if (probe !== undefined && nowMs !== undefined && nowMs - probe > staleAfter) {
    const message = `no autoscaler probe since ${s.lastProbeTime}: is the cluster-autoscaler running?`;
    return {
      report: { health: 'Unhealthy', format: s.format, lastProbeTime: s.lastProbeTime, message },
      condition: { status: 'False', reason: REASON.NoRecentProbe, message },
    };
  }
  const poolOf = new Map(
    pools.flatMap((p): [string, string][] => [
      [`MachineDeployment/${namespace}/${p.machineDeployment}`, p.name],
      [`${namespace}/${p.machineDeployment}`, p.name],
    ]),
  );
  const problems: string[] = [];
  if (s.health !== 'Healthy') problems.push(`cluster-wide health ${s.health}`);
  for (const g of [...s.nodeGroups].sort((a, b) => cmp(a.name, b.name))) {
    const label = poolOf.get(g.name) ?? g.name;
    if (g.health !== undefined && g.health !== 'Healthy') problems.push(`${label}: health ${g.health}`);
    if (g.scaleUp === 'Backoff') problems.push(`${label}: scale-up backoff${g.message ? `: ${g.message}` : ''}`);
  }
  if (problems.length > 0) {
    const message = problems.join('; ');
    return { report: { health: 'Unhealthy', format: s.format, message }, condition: { status: 'False', reason: REASON.Unhealthy, message } };
  }
  return { report: { health: 'Healthy', format: s.format }, condition: { status: 'True', reason: REASON.Healthy, message: 'the cluster-autoscaler reports Healthy' } };
}

// ---------------------------------------------------------------------------------- phase

function phaseOf(
  c: ClusterFacts,
  imp: ImportReport,
  bundles: BundlesResult,
  auto: { report: LLMClusterStatus['autoscaler']; condition: { status: Condition['status']; message: string } },
  nodes: string,
): { phase: Phase; message?: string } {
  const autoscaler = auto.report;
  if (c.deleting) return { phase: 'Deleting', message: 'the Cluster is being deleted' };
  if (c.failure) return { phase: 'Failed', message: `the Cluster failed: ${c.failure}` };
  if (imp.state === 'Failed') return { phase: 'Failed', message: `import into Rancher failed: ${imp.message ?? ''}`.trimEnd() };
  if (!c.controlPlaneReady) {
    return { phase: 'Provisioning', message: `waiting for the control plane to become available${c.controlPlaneMessage ? `: ${c.controlPlaneMessage}` : ''}` };
  }
  if (importApplies(imp.state) && imp.state !== 'AgentReady') return { phase: 'Importing', message: imp.message };
  // A failed or drifted bundle shows even while others still roll out: a failure must not hide
  // behind "Deploying".
  const bad = bundles.items.filter((b) => b.state === 'ErrApplied' || b.state === 'Modified');
  if (bad.length > 0) {
    return { phase: 'Degraded', message: bad.map((b) => `bundle ${b.name} ${b.state}${b.message ? `: ${b.message}` : ''}`).join('; ') };
  }
  const waiting = bundles.items.filter((b) => b.state !== 'Ready');
  if (bundles.missingSecrets.length > 0) {
    const what = `missing on the management cluster: ${describeMissing(bundles.missingSecrets)}; ${SECRETS_FIX}`;
    // Bundles that are deployed keep running on the copies Fleet made; their next rollout needs the Secret.
    if (waiting.length === 0) return { phase: 'Degraded', message: `${what} (deployed bundles keep their copies, the next rollout stalls)` };
    return { phase: 'Deploying', message: `blocked, ${what}` };
  }
  if (waiting.length > 0) {
    return { phase: 'Deploying', message: `${bundles.ready}/${bundles.total} bundles ready, waiting for ${waiting.map((b) => `${b.name} (${b.state})`).join(', ')}` };
  }
  if (c.unreachable) return { phase: 'Degraded', message: `the management cluster cannot reach the workload cluster: ${c.unreachable}` };
  if (autoscaler.health === 'Unhealthy') return { phase: 'Degraded', message: `autoscaler unhealthy: ${autoscaler.message ?? ''}`.trimEnd() };
  // Ready means the nodes can scale too: an autoscaled cluster whose autoscaler is not known to be
  // healthy is not Ready yet.
  if (autoscaler.health === 'Unparseable') return { phase: 'Degraded', message: `the cluster-autoscaler status cannot be read: ${auto.condition.message}` };
  if (auto.condition.status !== 'True') return { phase: 'Deploying', message: `waiting for the cluster-autoscaler: ${auto.condition.message}` };
  return { phase: 'Ready', message: `bundles ${bundles.ready}/${bundles.total} ready, nodes ${nodes}` };
}

function provisionedCondition(c: ClusterFacts): { type: ConditionType; status: Condition['status']; reason: string; message: string } {
  const type = CONDITION.Provisioned;
  if (c.failure) return { type, status: 'False', reason: REASON.ClusterFailed, message: c.failure };
  if (c.controlPlaneReady) return { type, status: 'True', reason: REASON.ControlPlaneAvailable, message: 'the control plane is available' };
  return { type, status: 'False', reason: REASON.WaitingForControlPlane, message: c.controlPlaneMessage ?? `Cluster phase ${c.phase ?? 'unknown'}` };
}

// -------------------------------------------------------------------------------------- helpers

function rec(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

function intText(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(rec(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Kubernetes writes times at second precision; so do we, so a round trip changes nothing. */
function normalizeNow(now: string): string {
  const ms = rfc3339Millis(now);
  return ms === undefined ? now : new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Drops undefined properties: the status read back from the API server has none. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
