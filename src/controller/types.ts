// The controller's report on one CAPI cluster: the status of an LLMCluster object
// (manifests/crds/llmstack.dev_llmclusters.yaml). Computed in one place (report.ts), written once per
// change, read by `llmstack status`.

export const LLMCLUSTER = { group: 'llmstack.dev', version: 'v1alpha1', plural: 'llmclusters', kind: 'LLMCluster' } as const;

/** Condition types: constants, never built from strings elsewhere. */
export const CONDITION = {
  Provisioned: 'Provisioned',
  Imported: 'Imported',
  BundlesReady: 'BundlesReady',
  AutoscalerHealthy: 'AutoscalerHealthy',
  Ready: 'Ready',
} as const;
export type ConditionType = (typeof CONDITION)[keyof typeof CONDITION];

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type Phase = 'Provisioning' | 'Importing' | 'Deploying' | 'Ready' | 'Degraded' | 'Deleting' | 'Failed';

export type ImportState = 'Disabled' | 'OptedOut' | 'WaitingForControlPlane' | 'Pending' | 'Importing' | 'Imported' | 'AgentReady' | 'Failed';

/** Fleet's bundle states, worst first (Fleet's own order). */
export const BUNDLE_STATES = ['ErrApplied', 'WaitApplied', 'Modified', 'OutOfSync', 'Pending', 'NotReady', 'Ready'] as const;
export type BundleState = (typeof BUNDLE_STATES)[number] | 'Unknown';

export interface NonReadyResource {
  kind?: string;
  namespace?: string;
  name?: string;
  summary?: string;
}

export interface BundleReport {
  /** Fleet bundle name. */
  name: string;
  /** llmstack.dev/bundle label of the bundle, when it is one of llmstack's. */
  bundle?: string;
  namespace?: string;
  state: BundleState;
  message?: string;
  nonReadyResources?: NonReadyResource[];
}

export interface AutoscalerGroupView {
  health?: string;
  ready?: number;
  registered?: number;
  cloudProviderTarget?: number;
  scaleUp?: string;
  scaleDown?: string;
  message?: string;
}

export interface NodePoolReport {
  name: string;
  machineDeployment?: string;
  min?: number;
  max?: number;
  replicas?: number;
  readyReplicas?: number;
  autoscaler?: AutoscalerGroupView;
}

export type AutoscalerHealth = 'Healthy' | 'Unhealthy' | 'Unknown' | 'Unparseable' | 'NotDeployed';

export interface LLMClusterStatus {
  observedGeneration?: number;
  phase: Phase;
  message?: string;
  clusterPhase?: string;
  controlPlaneReady?: boolean;
  import: { state: ImportState; rancherCluster?: string; message?: string };
  bundles: { summary: string; ready: number; total: number; commit?: string; items: BundleReport[] };
  /** Secrets the bundles need that are missing on the management cluster (absent when none). */
  missingSecrets?: { namespace: string; name: string; bundles: string[] }[];
  nodes: { summary: string; ready: number; desired: number; min?: number; max?: number };
  nodePools: NodePoolReport[];
  autoscaler: { health: AutoscalerHealth; format?: 'text' | 'yaml'; lastProbeTime?: string; message?: string };
  conditions: Condition[];
}

/**
 * The status when it has the shape this version writes, else undefined: a status written by someone
 * else or by another version of the controller is rewritten whole, never read field by field.
 */
export function usableStatus(status: unknown): LLMClusterStatus | undefined {
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(status)) return undefined;
  const s = status;
  const ok =
    typeof s['phase'] === 'string' &&
    obj(s['import']) &&
    typeof s['import']['state'] === 'string' &&
    obj(s['bundles']) &&
    Array.isArray(s['bundles']['items']) &&
    s['bundles']['items'].every((b) => obj(b) && typeof b['name'] === 'string' && typeof b['state'] === 'string') &&
    typeof s['bundles']['summary'] === 'string' &&
    obj(s['nodes']) &&
    typeof s['nodes']['summary'] === 'string' &&
    Array.isArray(s['nodePools']) &&
    obj(s['autoscaler']) &&
    typeof s['autoscaler']['health'] === 'string' &&
    Array.isArray(s['conditions']);
  return ok ? (status as unknown as LLMClusterStatus) : undefined;
}

/** The autoscaler's status ConfigMap, parsed (both the plain-text and the YAML format). */
export interface AutoscalerStatus {
  format: 'text' | 'yaml';
  /** clusterWide health: Healthy / Unhealthy / ... as the autoscaler writes it. */
  health: string;
  /** The autoscaler's own state, "Initializing" or "Running" (YAML format; "Initializing" in text too). */
  autoscalerStatus?: string;
  lastProbeTime?: string;
  scaleUp?: string;
  scaleDown?: string;
  nodeGroups: ({ name: string; minSize?: number; maxSize?: number } & AutoscalerGroupView)[];
}
