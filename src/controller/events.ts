// The Kubernetes Events a change of report deserves, computed from the previous and the next status
// (pure; the controller records them). Only transitions make events: a steady state makes none, and a
// first report (no previous status) makes only its PhaseChanged and warnings, so restarting or
// installing the controller does not replay "good news" for every cluster.
import type { BundleState, LLMClusterStatus, Phase } from './types.js';

export interface ReportEvent {
  type: 'Normal' | 'Warning';
  /** CamelCase, one of EVENT_REASON. */
  reason: string;
  message: string;
}

export const EVENT_REASON = {
  PhaseChanged: 'PhaseChanged',
  ImportStarted: 'ImportStarted',
  AgentDeployed: 'AgentDeployed',
  Imported: 'Imported',
  AgentNotReady: 'AgentNotReady',
  ImportFailed: 'ImportFailed',
  ImportSkipped: 'ImportSkipped',
  RolloutStarted: 'RolloutStarted',
  BundleFailed: 'BundleFailed',
  BundleModified: 'BundleModified',
  BundleRecovered: 'BundleRecovered',
  BundlesReady: 'BundlesReady',
  SecretMissing: 'SecretMissing',
  AutoscalerUnhealthy: 'AutoscalerUnhealthy',
  AutoscalerStatusUnparseable: 'AutoscalerStatusUnparseable',
  AutoscalerHealthy: 'AutoscalerHealthy',
} as const;

// client-go's recorder cuts messages at 1024 characters; do it here so tests see what is sent.
const MAX_MESSAGE = 1024;
const BAD_PHASES: readonly Phase[] = ['Failed', 'Degraded'];
const BAD_BUNDLES: readonly BundleState[] = ['ErrApplied', 'Modified'];

export function transitions(previous: LLMClusterStatus | undefined, next: LLMClusterStatus): ReportEvent[] {
  const out: ReportEvent[] = [];
  const add = (type: ReportEvent['type'], reason: string, message: string) => {
    if (previous === undefined && type === 'Normal' && reason !== EVENT_REASON.PhaseChanged) return;
    out.push({ type, reason, message: message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 1)}…` });
  };
  const why = (m: string | undefined) => (m ? `: ${m}` : '');

  if (previous?.phase !== next.phase) {
    const from = previous ? `${previous.phase} -> ` : '';
    add(BAD_PHASES.includes(next.phase) ? 'Warning' : 'Normal', EVENT_REASON.PhaseChanged, `${from}${next.phase}${why(next.message)}`);
  }

  const was = previous?.import.state;
  const is = next.import.state;
  if (was !== is) {
    const rc = next.import.rancherCluster;
    if (was === 'AgentReady' && (is === 'Imported' || is === 'Importing')) {
      add('Warning', EVENT_REASON.AgentNotReady, `the Rancher agent of ${rc ?? 'the cluster'} is no longer ready${why(next.import.message)}`);
    } else if (is === 'Importing') {
      add('Normal', EVENT_REASON.ImportStarted, next.import.message ?? `Rancher cluster ${rc ?? '?'} created`);
    } else if (is === 'Imported') {
      add('Normal', EVENT_REASON.AgentDeployed, `Rancher agent deployed for ${rc ?? '?'}`);
    } else if (is === 'AgentReady') {
      add('Normal', EVENT_REASON.Imported, `imported into Rancher as ${rc ?? '?'}`);
    } else if (is === 'Failed') {
      add('Warning', EVENT_REASON.ImportFailed, next.import.message ?? 'import into Rancher failed');
    } else if (is === 'OptedOut') {
      add('Normal', EVENT_REASON.ImportSkipped, next.import.message ?? 'the cluster is not to be imported');
    }
  }

  const fromCommit = previous?.bundles.commit;
  const toCommit = next.bundles.commit;
  if (fromCommit && toCommit && fromCommit !== toCommit) add('Normal', EVENT_REASON.RolloutStarted, `rolling out commit ${toCommit} (was ${fromCommit})`);

  const before = new Map((previous?.bundles.items ?? []).map((b) => [b.name, b.state]));
  for (const b of [...next.bundles.items].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
    const old = before.get(b.name);
    if (old === b.state) continue;
    if (b.state === 'ErrApplied') add('Warning', EVENT_REASON.BundleFailed, `bundle ${b.name}${why(b.message ?? 'ErrApplied')}`);
    else if (b.state === 'Modified') add('Warning', EVENT_REASON.BundleModified, `bundle ${b.name} was changed on the cluster${why(modifiedList(b.nonReadyResources))}`);
    else if (b.state === 'Ready' && old !== undefined && BAD_BUNDLES.includes(old)) add('Normal', EVENT_REASON.BundleRecovered, `bundle ${b.name} is Ready again`);
  }

  const allReady = (s: LLMClusterStatus | undefined) => !!s && s.bundles.total > 0 && s.bundles.ready === s.bundles.total;
  if (allReady(next) && !allReady(previous)) {
    add('Normal', EVENT_REASON.BundlesReady, `all ${next.bundles.total} bundles ready${next.bundles.commit ? ` at commit ${next.bundles.commit}` : ''}`);
  }

  const missingBefore = new Set((previous?.missingSecrets ?? []).map((m) => `${m.namespace}/${m.name}`));
  for (const m of next.missingSecrets ?? []) {
    const key = `${m.namespace}/${m.name}`;
    if (!missingBefore.has(key)) add('Warning', EVENT_REASON.SecretMissing, `Secret ${key} is missing on the management cluster; Fleet cannot copy it for ${m.bundles.join(', ')}`);
  }

  const h0 = previous?.autoscaler.health;
  const h1 = next.autoscaler.health;
  if (h0 !== h1) {
    if (h1 === 'Unhealthy') add('Warning', EVENT_REASON.AutoscalerUnhealthy, next.autoscaler.message ?? 'the cluster-autoscaler reports Unhealthy');
    else if (h1 === 'Unparseable') add('Warning', EVENT_REASON.AutoscalerStatusUnparseable, next.autoscaler.message ?? 'cannot read the autoscaler status');
    else if (h1 === 'Healthy' && (h0 === 'Unhealthy' || h0 === 'Unparseable')) add('Normal', EVENT_REASON.AutoscalerHealthy, 'the cluster-autoscaler reports Healthy again');
  }
  return out;
}

function modifiedList(items: { kind?: string; namespace?: string; name?: string; summary?: string }[] | undefined): string | undefined {
  const changed = (items ?? []).filter((r) => r.summary === 'modified' || r.summary === 'missing' || r.summary === 'extra');
  if (changed.length === 0) return undefined;
  return changed.map((r) => `${r.kind ?? '?'} ${r.namespace ? `${r.namespace}/` : ''}${r.name ?? '?'} ${r.summary}`).join(', ');
}
