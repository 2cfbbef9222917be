// computeReport: the LLMCluster status from the objects as the API server returns them. The inputs are
// built in the upstream shapes and checked against the upstream CRDs, the outputs against ours.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadCatalog } from '../../src/catalog/load.js';
import { parseAutoscalerStatus } from '../../src/controller/autoscaler-status.js';
import { transitions, type ReportEvent } from '../../src/controller/events.js';
import { computeReport, deploymentState, observedAutoscaler, secretsNeeded, type ObjectLike, type ReportInput } from '../../src/controller/report.js';
import { BUNDLE_STATES, usableStatus, type LLMClusterStatus } from '../../src/controller/types.js';
import { loadCrds, type CrdIndex } from '../../src/validate/offline.js';
import { renderExample } from '../support/examples.js';
import { repoRoot, sharedDir } from '../support/paths.js';

// ------------------------------------------------------------------------------ object builders

const NS = 'default';
const NAME = 'llm-workload';
const RC = 'c-7xk2p';
const MD = 'llm-workload-md-0-8xq4z';
const BD_NS = 'cluster-fleet-default-c-7xk2p-9f3c1e2a7b4d';
const T0 = '2026-08-01T09:00:00Z';
const COMMIT = '3b9f1c2d4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c';
const BUNDLES = ['knative-operator', 'knative-serving', 'litellm', 'llm-namespace', 'local-path-storage', 'metrics-server', 'ollama', 'openwebui'];
const fleetName = (b: string) => `quickstart-apps-bundles-${b}`;
const at = (minute: number) => `2026-08-01T10:${String(minute).padStart(2, '0')}:00Z`;

// The Cluster exactly as `llmstack generate` writes it for the quickstart example; top-level so the
// describe blocks can build inputs from it.
const generatedCluster = parse(
  renderExample('quickstart.yaml', 'v1beta2', await loadCatalog()).find((f) => f.path === `management/clusters/${NS}/${NAME}/cluster.yaml`)!.content,
) as ObjectLike;
const upstream: CrdIndex = await loadCrds(path.join(sharedDir(), 'crds'));
const ours: CrdIndex = await loadCrds(path.join(repoRoot, 'manifests/crds'));

/** Schema problems of an object against its CRD (unknown fields count, as with strict validation). */
function problems(crds: CrdIndex, o: ObjectLike): string[] {
  const [group, version] = o.apiVersion!.split('/');
  const validate = crds.validators.get(`${group}/${version}/${o.kind}`);
  if (!validate) return [`no CRD for ${o.apiVersion} ${o.kind}`];
  const label = `${o.kind} ${o.metadata?.name}`;
  if (validate(o)) return [];
  return (validate.errors ?? []).map((e) => `${label}: ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

function inputProblems(input: ReportInput): string[] {
  const all = [input.cluster, ...(input.rancherClusters ?? []), ...(input.bundles ?? []), ...(input.bundleDeployments ?? []), ...(input.gitRepos ?? []), ...(input.machineDeployments ?? [])];
  return all.flatMap((o) => problems(upstream, o));
}

function reportProblems(status: LLMClusterStatus): string[] {
  return problems(ours, { apiVersion: 'llmstack.dev/v1alpha1', kind: 'LLMCluster', metadata: { name: NAME, namespace: NS }, spec: { clusterName: NAME, stack: 'quickstart' }, status });
}

type V2Condition = { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message: string; lastTransitionTime: string };
const v2 = (type: string, status: V2Condition['status'], reason: string, message = ''): V2Condition => ({ type, status, reason, message, lastTransitionTime: T0 });

/** The generated Cluster at a point of its life, with a v1beta2 status as CAPI v1.11+ writes it. */
function capiCluster(stage: 'created' | 'provisioning' | 'available', patch: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): ObjectLike {
  const c = structuredClone(generatedCluster);
  c.metadata = { ...c.metadata, labels: { ...c.metadata!.labels, ...patch.labels }, ...(patch.annotations ? { annotations: patch.annotations } : {}) };
  for (const [k, v] of Object.entries(c.metadata.labels!)) if (v === '<delete>') delete c.metadata.labels![k];
  if (stage === 'provisioning') {
    c.status = {
      phase: 'Provisioning',
      initialization: { infrastructureProvisioned: true },
      conditions: [
        v2('Available', 'False', 'NotAvailable', '* ControlPlaneAvailable: Control plane not yet initialized'),
        v2('InfrastructureReady', 'True', 'Ready'),
        v2('ControlPlaneInitialized', 'False', 'NotInitialized', 'Control plane not yet initialized'),
        v2('ControlPlaneAvailable', 'False', 'NotAvailable', '* KubeadmControlPlane llm-workload-fkx9d: control plane not yet initialized'),
        v2('RemoteConnectionProbe', 'False', 'ProbeFailed', 'Remote connection not established yet'),
      ],
      controlPlane: { desiredReplicas: 1, replicas: 1, readyReplicas: 0, availableReplicas: 0, upToDateReplicas: 1 },
    };
  }
  if (stage === 'available') {
    c.status = {
      phase: 'Provisioned',
      initialization: { infrastructureProvisioned: true, controlPlaneInitialized: true },
      conditions: [
        v2('Available', 'True', 'Available'),
        v2('InfrastructureReady', 'True', 'Ready'),
        v2('ControlPlaneInitialized', 'True', 'Initialized'),
        v2('ControlPlaneAvailable', 'True', 'Available'),
        v2('RemoteConnectionProbe', 'True', 'ProbeSucceeded'),
      ],
      controlPlane: { desiredReplicas: 1, replicas: 1, readyReplicas: 1, availableReplicas: 1, upToDateReplicas: 1 },
    };
  }
  return c;
}

function namespaceObject(labels: Record<string, string> = {}): ObjectLike {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'kubernetes.io/metadata.name': NS, ...labels } } };
}

/** The management.cattle.io Cluster Turtles creates (generateName c-), with conditions Rancher sets. */
function rancherCluster(conditions: V2Condition[], deleting = false): ObjectLike {
  return {
    apiVersion: 'management.cattle.io/v3',
    kind: 'Cluster',
    metadata: {
      name: RC,
      namespace: NS,
      labels: { 'cluster-api.cattle.io/capi-cluster-owner': NAME, 'cluster-api.cattle.io/capi-cluster-owner-ns': NS, 'cluster-api.cattle.io/owned': '' },
      ...(deleting ? { deletionTimestamp: T0 } : {}),
    },
    spec: { displayName: NAME, description: 'CAPI cluster imported to Rancher' },
    ...(conditions.length > 0 ? { status: { conditions } } : {}),
  };
}

function fleetBundle(b: string, ready: boolean): ObjectLike {
  return {
    apiVersion: 'fleet.cattle.io/v1alpha1',
    kind: 'Bundle',
    metadata: {
      name: fleetName(b),
      namespace: 'fleet-default',
      labels: { 'fleet.cattle.io/commit': COMMIT, 'fleet.cattle.io/repo-name': 'quickstart-apps', 'llmstack.dev/bundle': b, 'llmstack.dev/stack': 'quickstart' },
    },
    spec: { defaultNamespace: b === 'ollama' ? 'llm' : b, targets: [{ clusterSelector: { matchLabels: { [`bundle.llmstack.dev/${b}`]: 'true', 'llmstack.dev/stack': 'quickstart' } } }] },
    status: {
      summary: { desiredReady: 1, ready: ready ? 1 : 0, ...(ready ? {} : { waitApplied: 1, nonReadyResources: [{ name: `fleet-default/${RC}`, bundleState: 'WaitApplied' }] }) },
      display: { readyClusters: ready ? '1/1' : '0/1', ...(ready ? {} : { state: 'WaitApplied' }) },
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', message: ready ? '' : `WaitApplied(1) [Cluster fleet-default/${RC}]`, lastUpdateTime: T0 }],
    },
  };
}

type BdState = 'WaitApplied' | 'NotReady' | 'Ready' | 'ErrApplied' | 'Modified' | 'OutOfSync';
const GATEKEEPER = parse(readFileSync(path.join(sharedDir(), 'fixtures/fleet-status/bundle-status-summary-modified-gatekeeper.yaml'), 'utf8')) as {
  summary: { nonReadyResources: { modifiedStatus: Record<string, unknown>[] }[] };
};

/** A BundleDeployment as Fleet's agent reports it, in one of Fleet's states. */
function bundleDeployment(b: string, state: BdState, opts: { display?: boolean } = {}): ObjectLike {
  const id = `s-4f2a9c:${b.length}e7d1b0`;
  const cond = (type: string, status: string, message = '', reason?: string) => ({ type, status, message, ...(reason ? { reason } : {}), lastUpdateTime: T0 });
  const status: Record<string, unknown> = {};
  if (state !== 'WaitApplied') Object.assign(status, { appliedDeploymentID: id, release: `${b}/${fleetName(b)}:1`, syncGeneration: 0 });
  if (state === 'WaitApplied') status.conditions = [cond('Deployed', 'Unknown')];
  if (state === 'ErrApplied') {
    delete status.appliedDeploymentID;
    status.conditions = [cond('Deployed', 'False', 'chart requires kubeVersion: >=1.34.0-0 which is incompatible with Kubernetes v1.33.1', 'Error')];
  }
  if (state === 'NotReady') {
    Object.assign(status, {
      ready: false,
      nonModified: true,
      nonReadyStatus: [
        {
          uid: '1f0c9a1e-0d6b-4c7e-9d61-3a6f0b7c2e11',
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          namespace: 'llm',
          name: b,
          summary: { state: 'in-progress', transitioning: true, message: ['Deployment does not have minimum availability.'] },
        },
      ],
      conditions: [cond('Installed', 'True'), cond('Deployed', 'True'), cond('Ready', 'False', 'deployment.apps llm/ollama in-progress'), cond('Monitored', 'True')],
    });
  }
  if (state === 'Ready' || state === 'OutOfSync') Object.assign(status, { ready: true, nonModified: true, conditions: [cond('Installed', 'True'), cond('Deployed', 'True'), cond('Ready', 'True'), cond('Monitored', 'True')] });
  if (state === 'Modified') {
    Object.assign(status, {
      ready: true,
      nonModified: false,
      modifiedStatus: GATEKEEPER.summary.nonReadyResources[0]!.modifiedStatus,
      conditions: [cond('Installed', 'True'), cond('Deployed', 'True'), cond('Ready', 'True'), cond('Monitored', 'True')],
    });
  }
  if (opts.display !== false) status.display = { state, ...(state === 'ErrApplied' ? { deployed: 'Error: chart requires kubeVersion' } : { deployed: 'True', monitored: 'True' }) };
  return {
    apiVersion: 'fleet.cattle.io/v1alpha1',
    kind: 'BundleDeployment',
    metadata: {
      name: fleetName(b),
      namespace: BD_NS,
      labels: {
        'fleet.cattle.io/bundle-name': fleetName(b),
        'fleet.cattle.io/bundle-namespace': 'fleet-default',
        'fleet.cattle.io/cluster': RC,
        'fleet.cattle.io/cluster-namespace': 'fleet-default',
        'fleet.cattle.io/managed': 'true',
        'llmstack.dev/bundle': b,
        'llmstack.dev/stack': 'quickstart',
      },
    },
    spec: { deploymentID: id, stagedDeploymentID: state === 'OutOfSync' ? `s-4f2a9c:${b.length}ffff` : id, options: {}, stagedOptions: {} },
    status,
  };
}

function gitRepo(commit = COMMIT): ObjectLike {
  return {
    apiVersion: 'fleet.cattle.io/v1alpha1',
    kind: 'GitRepo',
    metadata: { name: 'quickstart-apps', namespace: 'fleet-default', labels: { 'llmstack.dev/stack': 'quickstart' } },
    spec: { repo: 'http://git.example.test/platform/gitops.git', branch: 'main', paths: ['bundles'] },
    status: { commit, display: { readyBundleDeployments: '8/8' } },
  };
}

/** The topology MachineDeployment CAPI creates for a pool, with the autoscaler's annotations unless `range` is null. */
function machineDeployment(replicas: number, ready: number, opts: { name?: string; pool?: string; cluster?: string; range?: [number, number] | null } = {}): ObjectLike {
  const name = opts.name ?? MD;
  const cluster = opts.cluster ?? NAME;
  const range = opts.range === undefined ? [1, 3] : opts.range;
  const annotations: Record<string, string> = range
    ? { 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': String(range[0]), 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': String(range[1]) }
    : {};
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'MachineDeployment',
    metadata: {
      name,
      namespace: NS,
      labels: { 'cluster.x-k8s.io/cluster-name': cluster, 'topology.cluster.x-k8s.io/owned': '', 'topology.cluster.x-k8s.io/deployment-name': opts.pool ?? 'md-0' },
      annotations,
    },
    spec: {
      clusterName: cluster,
      replicas,
      selector: { matchLabels: { 'cluster.x-k8s.io/cluster-name': cluster, 'topology.cluster.x-k8s.io/deployment-name': opts.pool ?? 'md-0' } },
      template: {
        spec: {
          clusterName: cluster,
          version: 'v1.33.1',
          bootstrap: { configRef: { apiGroup: 'bootstrap.cluster.x-k8s.io', kind: 'KubeadmConfigTemplate', name: `${name}-bootstrap` } },
          infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerMachineTemplate', name: `${name}-infra` },
        },
      },
    },
    status: { replicas, ...(ready > 0 ? { readyReplicas: ready, availableReplicas: ready } : {}), upToDateReplicas: replicas, phase: replicas === ready ? 'Running' : 'ScalingUp' },
  };
}

/** Cluster labels that keep only the given bundle.llmstack.dev/ labels of the generated Cluster. */
const onlyBundles = (...keep: string[]) => Object.fromEntries(BUNDLES.filter((b) => !keep.includes(b)).map((b) => [`bundle.llmstack.dev/${b}`, '<delete>']));

const fixedPool = (name: string, pool: string, replicas: number, ready: number) => machineDeployment(replicas, ready, { name, pool, range: null });

/** A cluster-autoscaler 1.36 status for md-0, made from upstream's own sample by changing its values. */
function autoscalerText(opts: { probe: string; ready: number; target: number; backoff?: boolean; health?: string }): string {
  const s = parse(readFileSync(path.join(sharedDir(), 'fixtures/cluster-autoscaler/status-yaml-ca-1.36.1.yaml'), 'utf8')) as Record<string, any>;
  s.time = opts.probe.replace('T', ' ').replace('Z', ' +0000 UTC');
  delete s.message;
  for (const h of [s.clusterWide.health, s.clusterWide.scaleUp, s.clusterWide.scaleDown]) h.lastProbeTime = opts.probe;
  s.clusterWide.health.status = opts.health ?? 'Healthy';
  s.clusterWide.health.nodeCounts = { registered: { total: opts.ready + 1, ready: opts.ready + 1, notStarted: 0, unready: { total: 0, resourceUnready: 0 } }, longUnregistered: 0, unregistered: 0 };
  const g = s.nodeGroups[0];
  g.name = `MachineDeployment/${NS}/${MD}`;
  g.health.nodeCounts = { registered: { total: opts.ready, ready: opts.ready, notStarted: 0, unready: { total: 0, resourceUnready: 0 } }, longUnregistered: 0, unregistered: 0 };
  g.health.cloudProviderTarget = opts.target;
  g.health.minSize = 1;
  g.health.maxSize = 3;
  for (const c of [g.health, g.scaleUp, g.scaleDown]) c.lastProbeTime = opts.probe;
  if (!opts.backoff) {
    g.scaleUp = { status: 'NoActivity', lastProbeTime: opts.probe, lastTransitionTime: g.scaleUp.lastTransitionTime };
  }
  g.scaleDown = { status: 'NoCandidates', lastProbeTime: opts.probe, lastTransitionTime: g.scaleDown.lastTransitionTime };
  return stringify(s);
}

function autoscaler(opts: Parameters<typeof autoscalerText>[0]): ReportInput['autoscaler'] {
  return observedAutoscaler(parseAutoscalerStatus(autoscalerText(opts)));
}

function json<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

const conditionSummary = (s: LLMClusterStatus) => s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);

// ------------------------------------------------------------------------------------ the scenario

describe('from "Cluster just created" to Ready, step by step', () => {
  it('reports every stage, emits the events of each change and nothing in a steady state', () => {
    const bundlesAll = (ready: boolean) => BUNDLES.map((b) => fleetBundle(b, ready));
    const steps: { name: string; now: string; input: ReportInput }[] = [];
    const step = (name: string, now: string, input: Omit<ReportInput, 'namespace' | 'gitRepos'>) =>
      steps.push({ name, now, input: { namespace: namespaceObject(), gitRepos: [gitRepo()], ...input } });

    step('created', at(0), { cluster: capiCluster('created'), bundles: bundlesAll(false), autoscaler: { kind: 'unreachable', message: `Secret ${NS}/${NAME}-kubeconfig: not found` } });
    step('provisioning', at(2), {
      cluster: capiCluster('provisioning'),
      machineDeployments: [machineDeployment(1, 0)],
      bundles: bundlesAll(false),
      autoscaler: { kind: 'unreachable', message: 'workload cluster: connect ECONNREFUSED 172.18.0.4:6443' },
    });
    step('control plane available', at(6), {
      cluster: capiCluster('available'),
      machineDeployments: [machineDeployment(1, 1)],
      bundles: bundlesAll(false),
      autoscaler: { kind: 'notDeployed', message: 'no kube-system/cluster-autoscaler-status in the workload cluster yet' },
    });
    step('Rancher cluster created', at(7), {
      cluster: capiCluster('available'),
      rancherClusters: [rancherCluster([])],
      machineDeployments: [machineDeployment(1, 1)],
      bundles: bundlesAll(false),
      autoscaler: { kind: 'notDeployed', message: 'no kube-system/cluster-autoscaler-status in the workload cluster yet' },
    });
    step('agent deployed', at(8), {
      cluster: capiCluster('available'),
      rancherClusters: [rancherCluster([v2('AgentDeployed', 'True', 'Deployed'), v2('Ready', 'False', 'Disconnected', 'Cluster agent is not connected')])],
      machineDeployments: [machineDeployment(1, 1)],
      bundles: bundlesAll(false),
      autoscaler: autoscaler({ probe: at(8), ready: 1, target: 1 }),
    });
    const imported = [v2('AgentDeployed', 'True', 'Deployed'), v2('Ready', 'True', 'Ready')];
    step('agent ready, Fleet starts', at(10), {
      cluster: capiCluster('available'),
      rancherClusters: [rancherCluster(imported)],
      machineDeployments: [machineDeployment(1, 1)],
      bundles: bundlesAll(false),
      bundleDeployments: BUNDLES.map((b) => bundleDeployment(b, 'WaitApplied')),
      autoscaler: autoscaler({ probe: at(10), ready: 1, target: 1 }),
    });
    step('ollama starting, autoscaler scaling up', at(14), {
      cluster: capiCluster('available'),
      rancherClusters: [rancherCluster(imported)],
      machineDeployments: [machineDeployment(2, 1)],
      bundles: bundlesAll(false),
      bundleDeployments: BUNDLES.map((b) => bundleDeployment(b, b === 'ollama' ? 'NotReady' : 'Ready')),
      autoscaler: autoscaler({ probe: at(14), ready: 1, target: 2 }),
    });
    const readyInput = {
      cluster: capiCluster('available'),
      rancherClusters: [rancherCluster(imported)],
      machineDeployments: [machineDeployment(2, 2)],
      bundles: bundlesAll(true),
      bundleDeployments: BUNDLES.map((b) => bundleDeployment(b, 'Ready')),
    };
    step('ready', at(20), { ...readyInput, autoscaler: autoscaler({ probe: at(20), ready: 2, target: 2 }) });
    step('steady', at(25), { ...readyInput, autoscaler: autoscaler({ probe: at(25), ready: 2, target: 2 }) });

    // the schema check above is no formality: it rejects what the CRDs do not know
    expect(problems(upstream, { ...bundleDeployment('metrics-server', 'Ready'), status: { readyy: true } })).toHaveLength(1);
    expect(problems(ours, { apiVersion: 'llmstack.dev/v1alpha1', kind: 'LLMCluster', status: { phase: 'Sleeping' } })).toHaveLength(1);

    let previous: LLMClusterStatus | undefined;
    const seen: { name: string; status: LLMClusterStatus; events: ReportEvent[] }[] = [];
    for (const s of steps) {
      expect(inputProblems(s.input), s.name).toStrictEqual([]);
      const status = computeReport(s.input, previous, s.now);
      expect(reportProblems(status), s.name).toStrictEqual([]);
      // What the controller reads back from the API server is what it wrote.
      expect(json(status), s.name).toStrictEqual(status);
      seen.push({ name: s.name, status, events: transitions(previous, status) });
      previous = status;
    }
    const byName = (name: string) => seen.find((x) => x.name === name)!;
    const pending = (b: string) => ({ name: fleetName(b), bundle: b, namespace: 'fleet-default', state: 'Pending', message: 'no BundleDeployment for this cluster yet' });

    // GIVEN the Cluster as generated, before CAPI wrote any status
    expect(byName('created').status).toStrictEqual({
      phase: 'Provisioning',
      message: 'waiting for the control plane to become available',
      controlPlaneReady: false,
      import: { state: 'WaitingForControlPlane', message: 'Turtles imports the cluster once its control plane is available' },
      bundles: { summary: '0/8', ready: 0, total: 8, commit: COMMIT, items: BUNDLES.map(pending) },
      // the pool is known from the topology before CAPI creates its MachineDeployment
      nodes: { summary: '0 (1..3)', ready: 0, desired: 0, min: 1, max: 3 },
      nodePools: [{ name: 'md-0', min: 1, max: 3, readyReplicas: 0 }],
      autoscaler: { health: 'Unknown', message: `Secret ${NS}/${NAME}-kubeconfig: not found` },
      conditions: [
        { type: 'Provisioned', status: 'False', lastTransitionTime: at(0), reason: 'WaitingForControlPlane', message: 'Cluster phase unknown' },
        { type: 'Imported', status: 'False', lastTransitionTime: at(0), reason: 'WaitingForControlPlane', message: 'Turtles imports the cluster once its control plane is available' },
        { type: 'BundlesReady', status: 'False', lastTransitionTime: at(0), reason: 'BundlesNotReady', message: `0/8 bundles ready; ${BUNDLES.map((b) => `${fleetName(b)}: Pending (no BundleDeployment for this cluster yet)`).join('; ')}` },
        { type: 'AutoscalerHealthy', status: 'Unknown', lastTransitionTime: at(0), reason: 'StatusUnknown', message: `Secret ${NS}/${NAME}-kubeconfig: not found` },
        { type: 'Ready', status: 'False', lastTransitionTime: at(0), reason: 'Provisioning', message: 'waiting for the control plane to become available' },
      ],
    });
    expect(byName('created').events).toStrictEqual([{ type: 'Normal', reason: 'PhaseChanged', message: 'Provisioning: waiting for the control plane to become available' }]);

    // WHEN CAPI provisions: the control plane's own message, the pool with its range
    const prov = byName('provisioning').status;
    expect(prov.message).toBe('waiting for the control plane to become available: * KubeadmControlPlane llm-workload-fkx9d: control plane not yet initialized');
    expect(prov.clusterPhase).toBe('Provisioning');
    expect(prov.nodes).toStrictEqual({ summary: '0 (1..3)', ready: 0, desired: 1, min: 1, max: 3 });
    expect(prov.nodePools).toStrictEqual([{ name: 'md-0', machineDeployment: MD, min: 1, max: 3, replicas: 1, readyReplicas: 0 }]);
    expect(conditionSummary(prov)).toStrictEqual([
      'Provisioned=False/WaitingForControlPlane',
      'Imported=False/WaitingForControlPlane',
      'BundlesReady=False/BundlesNotReady',
      'AutoscalerHealthy=Unknown/StatusUnknown',
      'Ready=False/Provisioning',
    ]);
    expect(byName('provisioning').events).toStrictEqual([]);

    // THEN import: Pending, Importing, Imported, AgentReady
    const cpa = byName('control plane available');
    expect([cpa.status.phase, cpa.status.import]).toStrictEqual(['Importing', { state: 'Pending', message: 'waiting for Turtles to create the Rancher cluster' }]);
    expect(cpa.status.conditions.find((c) => c.type === 'Provisioned')).toStrictEqual({
      type: 'Provisioned',
      status: 'True',
      lastTransitionTime: at(6),
      reason: 'ControlPlaneAvailable',
      message: 'the control plane is available',
    });
    expect(cpa.status.autoscaler).toStrictEqual({ health: 'NotDeployed', message: 'no kube-system/cluster-autoscaler-status in the workload cluster yet' });
    expect(cpa.events).toStrictEqual([{ type: 'Normal', reason: 'PhaseChanged', message: 'Provisioning -> Importing: waiting for Turtles to create the Rancher cluster' }]);

    expect(byName('Rancher cluster created').status.import).toStrictEqual({ state: 'Importing', rancherCluster: RC, message: `Rancher cluster ${RC} created, waiting for Turtles to deploy the agent` });
    expect(byName('Rancher cluster created').events).toStrictEqual([
      { type: 'Normal', reason: 'ImportStarted', message: `Rancher cluster ${RC} created, waiting for Turtles to deploy the agent` },
    ]);

    const agent = byName('agent deployed');
    expect(agent.status.import).toStrictEqual({ state: 'Imported', rancherCluster: RC, message: 'Rancher agent deployed, waiting for it to become ready: Cluster agent is not connected' });
    expect(agent.status.autoscaler).toStrictEqual({ health: 'Healthy', format: 'yaml' });
    expect(agent.status.nodePools[0]!.autoscaler).toStrictEqual({ health: 'Healthy', ready: 1, registered: 1, cloudProviderTarget: 1, scaleUp: 'NoActivity', scaleDown: 'NoCandidates' });
    expect(agent.events).toStrictEqual([{ type: 'Normal', reason: 'AgentDeployed', message: `Rancher agent deployed for ${RC}` }]);

    const fleet = byName('agent ready, Fleet starts');
    expect(fleet.status.phase).toBe('Deploying');
    expect(fleet.status.message).toBe(`0/8 bundles ready, waiting for ${BUNDLES.map((b) => `${fleetName(b)} (WaitApplied)`).join(', ')}`);
    expect(fleet.status.import).toStrictEqual({ state: 'AgentReady', rancherCluster: RC, message: `imported into Rancher as ${RC}` });
    expect(fleet.status.bundles.items[0]).toStrictEqual({ name: fleetName('knative-operator'), bundle: 'knative-operator', namespace: 'fleet-default', state: 'WaitApplied' });
    expect(fleet.events).toStrictEqual([
      { type: 'Normal', reason: 'PhaseChanged', message: `Importing -> Deploying: ${fleet.status.message}` },
      { type: 'Normal', reason: 'Imported', message: `imported into Rancher as ${RC}` },
    ]);

    const rolling = byName('ollama starting, autoscaler scaling up');
    expect(rolling.status.bundles.summary).toBe('7/8');
    expect(rolling.status.bundles.items[0]).toStrictEqual({
      name: fleetName('ollama'),
      bundle: 'ollama',
      namespace: 'fleet-default',
      state: 'NotReady',
      nonReadyResources: [{ kind: 'Deployment', namespace: 'llm', name: 'ollama', summary: 'in-progress: Deployment does not have minimum availability.' }],
    });
    expect(rolling.status.nodes).toStrictEqual({ summary: '1 (1..3)', ready: 1, desired: 2, min: 1, max: 3 });
    expect(rolling.events).toStrictEqual([]);

    // THEN Ready, with the whole report
    const ready = byName('ready');
    expect(ready.status).toStrictEqual({
      phase: 'Ready',
      message: 'bundles 8/8 ready, nodes 2 (1..3)',
      clusterPhase: 'Provisioned',
      controlPlaneReady: true,
      import: { state: 'AgentReady', rancherCluster: RC, message: `imported into Rancher as ${RC}` },
      bundles: {
        summary: '8/8',
        ready: 8,
        total: 8,
        commit: COMMIT,
        items: BUNDLES.map((b) => ({ name: fleetName(b), bundle: b, namespace: 'fleet-default', state: 'Ready' })),
      },
      nodes: { summary: '2 (1..3)', ready: 2, desired: 2, min: 1, max: 3 },
      nodePools: [
        {
          name: 'md-0',
          machineDeployment: MD,
          min: 1,
          max: 3,
          replicas: 2,
          readyReplicas: 2,
          autoscaler: { health: 'Healthy', ready: 2, registered: 2, cloudProviderTarget: 2, scaleUp: 'NoActivity', scaleDown: 'NoCandidates' },
        },
      ],
      autoscaler: { health: 'Healthy', format: 'yaml' },
      conditions: [
        { type: 'Provisioned', status: 'True', lastTransitionTime: at(6), reason: 'ControlPlaneAvailable', message: 'the control plane is available' },
        { type: 'Imported', status: 'True', lastTransitionTime: at(10), reason: 'AgentReady', message: `imported into Rancher as ${RC}` },
        { type: 'BundlesReady', status: 'True', lastTransitionTime: at(20), reason: 'AllBundlesReady', message: '8/8 bundles ready' },
        { type: 'AutoscalerHealthy', status: 'True', lastTransitionTime: at(8), reason: 'Healthy', message: 'the cluster-autoscaler reports Healthy' },
        { type: 'Ready', status: 'True', lastTransitionTime: at(20), reason: 'Ready', message: 'bundles 8/8 ready, nodes 2 (1..3)' },
      ],
    });
    expect(ready.events).toStrictEqual([
      { type: 'Normal', reason: 'PhaseChanged', message: 'Deploying -> Ready: bundles 8/8 ready, nodes 2 (1..3)' },
      { type: 'Normal', reason: 'BundlesReady', message: `all 8 bundles ready at commit ${COMMIT}` },
    ]);

    // THEN a steady state: a newer autoscaler probe and a later clock change nothing, so nothing is written
    expect(byName('steady').status).toStrictEqual(ready.status);
    expect(JSON.stringify(byName('steady').status)).toBe(JSON.stringify(ready.status));
    expect(byName('steady').events).toStrictEqual([]);
  });
});

// ------------------------------------------------------------------------------------ import states

describe('import state', () => {
  const base = (cluster: ObjectLike, extra: Partial<ReportInput> = {}): LLMClusterStatus['import'] =>
    computeReport({ cluster, namespace: namespaceObject(), ...extra }, undefined, at(0)).import;
  const unlabelled = { 'cluster-api.cattle.io/rancher-auto-import': '<delete>' };

  it('Disabled when the stack does not import through Rancher', () => {
    expect(base(capiCluster('available'), { importMode: 'none' })).toStrictEqual({ state: 'Disabled', message: 'the stack does not import its clusters into Rancher' });
  });

  it('Disabled for a caapf cluster, even on a management cluster with Rancher', () => {
    const c = capiCluster('available', { labels: { 'llmstack.dev/import-strategy': 'caapf', 'cluster-api.cattle.io/rancher-auto-import': '<delete>' } });
    expect(base(c, { importMode: 'rancher' })).toStrictEqual({
      state: 'Disabled',
      message: 'registered with Fleet by the Fleet add-on provider (CAAPF), not imported into Rancher',
    });
  });

  it('Disabled when neither the Cluster nor its Namespace asks for it', () => {
    expect(base(capiCluster('available', { labels: unlabelled }))).toStrictEqual({
      state: 'Disabled',
      message: 'neither the Cluster nor Namespace default has cluster-api.cattle.io/rancher-auto-import=true',
    });
    const odd = computeReport({ cluster: capiCluster('available', { labels: unlabelled }), namespace: namespaceObject({ 'cluster-api.cattle.io/rancher-auto-import': 'sure' }) }, undefined, at(0));
    expect(odd.import.message).toBe('neither the Cluster nor Namespace default has cluster-api.cattle.io/rancher-auto-import=true (Namespace default has "sure", which Turtles ignores)');
  });

  it('OptedOut by the Cluster, whose explicit value wins over the Namespace', () => {
    const cluster = capiCluster('available', { labels: { 'cluster-api.cattle.io/rancher-auto-import': 'false' } });
    expect(computeReport({ cluster, namespace: namespaceObject({ 'cluster-api.cattle.io/rancher-auto-import': 'true' }) }, undefined, at(0)).import).toStrictEqual({
      state: 'OptedOut',
      message: 'the Cluster has cluster-api.cattle.io/rancher-auto-import=false',
    });
    expect(base(capiCluster('available', { labels: { 'cluster-api.cattle.io/rancher-auto-import': 'nope' } }))).toStrictEqual({
      state: 'OptedOut',
      message: 'the Cluster has cluster-api.cattle.io/rancher-auto-import="nope", which Turtles reads as false',
    });
  });

  it('OptedOut by the Namespace when the Cluster has no label', () => {
    const r = computeReport({ cluster: capiCluster('available', { labels: unlabelled }), namespace: namespaceObject({ 'cluster-api.cattle.io/rancher-auto-import': 'false' }) }, undefined, at(0));
    expect(r.import).toStrictEqual({ state: 'OptedOut', message: 'Namespace default has cluster-api.cattle.io/rancher-auto-import=false' });
    // and an OptedOut cluster does not wait for an import
    expect(r.phase).toBe('Deploying');
  });

  it('imports through the Namespace label too', () => {
    const r = computeReport({ cluster: capiCluster('provisioning', { labels: unlabelled }), namespace: namespaceObject({ 'cluster-api.cattle.io/rancher-auto-import': 'true' }) }, undefined, at(0));
    expect(r.import.state).toBe('WaitingForControlPlane');
  });

  it('OptedOut when Turtles annotated the Cluster imported', () => {
    expect(base(capiCluster('available', { annotations: { imported: 'true' } }))).toStrictEqual({
      state: 'OptedOut',
      message: 'the Cluster has the annotation "imported": Turtles does not import it',
    });
    expect(base(capiCluster('available'), { rancherClusters: [rancherCluster([], true)] })).toStrictEqual({
      state: 'OptedOut',
      rancherCluster: RC,
      message: `Rancher cluster ${RC} is being deleted; Turtles will not import the cluster again`,
    });
  });

  it('WaitingForControlPlane, Pending, Importing, Imported, AgentReady in order', () => {
    expect(base(capiCluster('provisioning')).state).toBe('WaitingForControlPlane');
    expect(base(capiCluster('available')).state).toBe('Pending');
    expect(base(capiCluster('available'), { rancherClusters: [rancherCluster([])] }).state).toBe('Importing');
    expect(base(capiCluster('available'), { rancherClusters: [rancherCluster([v2('AgentDeployed', 'True', 'Deployed')])] })).toStrictEqual({
      state: 'Imported',
      rancherCluster: RC,
      message: 'Rancher agent deployed, waiting for it to become ready',
    });
    expect(base(capiCluster('available'), { rancherClusters: [rancherCluster([v2('AgentDeployed', 'True', 'Deployed'), v2('Ready', 'True', 'Ready')])] }).state).toBe('AgentReady');
  });

  it('ignores Rancher clusters owned by another CAPI cluster', () => {
    const other = rancherCluster([v2('Ready', 'True', 'Ready')]);
    other.metadata!.labels!['cluster-api.cattle.io/capi-cluster-owner-ns'] = 'elsewhere';
    expect(base(capiCluster('available'), { rancherClusters: [other] }).state).toBe('Pending');
  });

  it('Failed with Rancher\'s reason, which fails the cluster', () => {
    const failed = rancherCluster([v2('AgentDeployed', 'False', 'Error', 'failed to apply the import manifest: connection refused')]);
    const r = computeReport({ cluster: capiCluster('available'), namespace: namespaceObject(), rancherClusters: [failed] }, undefined, at(0));
    expect(r.import).toStrictEqual({ state: 'Failed', rancherCluster: RC, message: 'Rancher reports AgentDeployed: failed to apply the import manifest: connection refused' });
    expect([r.phase, r.message]).toStrictEqual(['Failed', 'import into Rancher failed: Rancher reports AgentDeployed: failed to apply the import manifest: connection refused']);
    // CAPI-style conditions (Turtles' test CRD) say it with a severity
    const capiStyle = rancherCluster([]);
    capiStyle.status = { conditions: [{ type: 'Ready', status: 'False', severity: 'Error', reason: 'AgentFailed', message: 'agent crashed', lastTransitionTime: T0 }] };
    expect(base(capiCluster('available'), { rancherClusters: [capiStyle] }).state).toBe('Failed');
  });
});

// ------------------------------------------------------------------------------------ CAPI shapes

describe('the CAPI Cluster, v1beta2 and v1beta1', () => {
  const v1beta1 = (status: Record<string, unknown>): ObjectLike => ({
    apiVersion: 'cluster.x-k8s.io/v1beta1',
    kind: 'Cluster',
    metadata: { name: NAME, namespace: NS, labels: { 'cluster-api.cattle.io/rancher-auto-import': 'true' } },
    spec: { topology: { class: 'docker-llm', version: 'v1.33.1' } },
    status,
  });

  it('reads controlPlaneReady and the v1beta1 conditions of a v1beta1 object', () => {
    const ready = v1beta1({ phase: 'Provisioned', controlPlaneReady: true, infrastructureReady: true });
    expect(inputProblems({ cluster: ready })).toStrictEqual([]);
    expect(computeReport({ cluster: ready }, undefined, at(0)).controlPlaneReady).toBe(true);
    const byCondition = v1beta1({ phase: 'Provisioned', conditions: [{ type: 'ControlPlaneReady', status: 'True', lastTransitionTime: T0 }] });
    expect(computeReport({ cluster: byCondition }, undefined, at(0)).controlPlaneReady).toBe(true);
    const byV1beta2 = v1beta1({ phase: 'Provisioned', v1beta2: { conditions: [v2('ControlPlaneAvailable', 'True', 'Available')] } });
    expect(inputProblems({ cluster: byV1beta2 })).toStrictEqual([]);
    expect(computeReport({ cluster: byV1beta2 }, undefined, at(0)).controlPlaneReady).toBe(true);
    const notYet = v1beta1({
      phase: 'Provisioning',
      conditions: [{ type: 'ControlPlaneReady', status: 'False', severity: 'Info', reason: 'WaitingForControlPlane', message: 'Waiting for control plane provider to indicate the control plane has been initialized', lastTransitionTime: T0 }],
    });
    const r = computeReport({ cluster: notYet }, undefined, at(0));
    expect([r.phase, r.message]).toStrictEqual(['Provisioning', 'waiting for the control plane to become available: Waiting for control plane provider to indicate the control plane has been initialized']);
  });

  it('reports failures of both versions as Failed', () => {
    const old = v1beta1({ phase: 'Failed', failureReason: 'CreateError', failureMessage: 'DockerCluster llm-workload: failed to create load balancer' });
    expect(inputProblems({ cluster: old })).toStrictEqual([]);
    const r = computeReport({ cluster: old }, undefined, at(0));
    expect([r.phase, r.message]).toStrictEqual(['Failed', 'the Cluster failed: CreateError: DockerCluster llm-workload: failed to create load balancer']);
    expect(r.conditions[0]).toStrictEqual({ type: 'Provisioned', status: 'False', lastTransitionTime: at(0), reason: 'ClusterFailed', message: 'CreateError: DockerCluster llm-workload: failed to create load balancer' });

    const current = capiCluster('available');
    (current.status as Record<string, unknown>).deprecated = { v1beta1: { failureReason: 'UpdateError', failureMessage: 'boom' } };
    expect(inputProblems({ cluster: current })).toStrictEqual([]);
    expect(computeReport({ cluster: current }, undefined, at(0)).message).toBe('the Cluster failed: UpdateError: boom');
  });

  it('is Deleting from the deletionTimestamp on, before anything else', () => {
    const c = capiCluster('available');
    c.metadata!.deletionTimestamp = at(1);
    (c.status as Record<string, unknown>).phase = 'Deleting';
    const r = computeReport({ cluster: c }, undefined, at(2));
    expect([r.phase, r.message, r.clusterPhase]).toStrictEqual(['Deleting', 'the Cluster is being deleted', 'Deleting']);
  });

  it('is Degraded when CAPI cannot reach the workload cluster once everything else is fine', () => {
    const c = capiCluster('available', { labels: onlyBundles() });
    const conds = (c.status as { conditions: V2Condition[] }).conditions;
    conds[4] = v2('RemoteConnectionProbe', 'False', 'ProbeFailed', 'Remote connection probe failed, probe last succeeded at 2026-08-01T09:55:00Z');
    const r = computeReport({ cluster: c, importMode: 'none', bundles: [], machineDeployments: [] }, undefined, at(0));
    expect([r.phase, r.message]).toStrictEqual([
      'Degraded',
      'the management cluster cannot reach the workload cluster: Remote connection probe failed, probe last succeeded at 2026-08-01T09:55:00Z',
    ]);
  });

  it('never throws on objects missing everything', () => {
    for (const cluster of [{}, { metadata: {} }, { status: null }, { status: { conditions: 'x' } }, { metadata: { labels: null } }] as unknown as ObjectLike[]) {
      const r = computeReport({ cluster, bundles: [{}], bundleDeployments: [{ status: 5 }], machineDeployments: [{ metadata: {} }], rancherClusters: [{}] } as ReportInput, undefined, 'not a time');
      expect(r.phase).toBe('Provisioning');
    }
  });
});

// ----------------------------------------------------------------------------------------- bundles

describe('bundles', () => {
  const ready = { cluster: capiCluster('available'), namespace: namespaceObject(), rancherClusters: [rancherCluster([v2('AgentDeployed', 'True', 'Deployed'), v2('Ready', 'True', 'Ready')])] };

  it('keeps Fleet\'s state order, worst first', () => {
    // fleet.cattle.io/v1alpha1 StateRank: ErrApplied 7, WaitApplied 6, Modified 5, OutOfSync 4, Pending 3, NotReady 2, Ready 1
    expect([...BUNDLE_STATES]).toStrictEqual(['ErrApplied', 'WaitApplied', 'Modified', 'OutOfSync', 'Pending', 'NotReady', 'Ready']);
  });

  it('sorts the table worst first, then by name', () => {
    const states: Record<string, 'Ready' | 'NotReady' | 'WaitApplied' | 'ErrApplied' | 'Modified' | 'OutOfSync'> = {
      'knative-operator': 'NotReady',
      'knative-serving': 'WaitApplied',
      litellm: 'ErrApplied',
      'local-path-storage': 'Modified',
      'metrics-server': 'OutOfSync',
      'llm-namespace': 'Ready',
      openwebui: 'Ready',
    };
    const input: ReportInput = {
      ...ready,
      bundles: BUNDLES.map((b) => fleetBundle(b, false)),
      bundleDeployments: Object.entries(states).map(([b, s]) => bundleDeployment(b, s)),
    };
    expect(inputProblems(input)).toStrictEqual([]);
    const r = computeReport(input, undefined, at(0));
    expect(r.bundles.items.map((i) => `${i.bundle}:${i.state}`)).toStrictEqual([
      'litellm:ErrApplied',
      'knative-serving:WaitApplied',
      'local-path-storage:Modified',
      'metrics-server:OutOfSync',
      'ollama:Pending',
      'knative-operator:NotReady',
      'llm-namespace:Ready',
      'openwebui:Ready',
    ]);
    expect(r.bundles.summary).toBe('2/8');
    // a failed bundle makes the cluster Degraded even while others still roll out
    expect(r.phase).toBe('Degraded');
    expect(r.message).toBe(
      `bundle ${fleetName('litellm')} ErrApplied: chart requires kubeVersion: >=1.34.0-0 which is incompatible with Kubernetes v1.33.1; bundle ${fleetName('local-path-storage')} Modified`,
    );
    expect(r.conditions.find((c) => c.type === 'BundlesReady')?.reason).toBe('BundlesFailed');
    expect(r.bundles.items[0]).toStrictEqual({
      name: fleetName('litellm'),
      bundle: 'litellm',
      namespace: 'fleet-default',
      state: 'ErrApplied',
      message: 'chart requires kubeVersion: >=1.34.0-0 which is incompatible with Kubernetes v1.33.1',
    });
  });

  it('computes the state as Fleet does when the display is not written yet', () => {
    for (const s of ['WaitApplied', 'NotReady', 'Ready', 'ErrApplied', 'Modified', 'OutOfSync'] as const) {
      expect(deploymentState(bundleDeployment('ollama', s, { display: false })), s).toBe(s);
    }
    expect(deploymentState({ status: { display: { state: 'Bogus' } } })).toBe('Unknown');
    // the display wins: it is Fleet's own verdict
    const shown = bundleDeployment('ollama', 'Ready');
    (shown.status as { display: { state: string } }).display.state = 'NotReady';
    expect(deploymentState(shown)).toBe('NotReady');
  });

  it('lists what Fleet found modified, from a BundleDeployment in the shape of the Gatekeeper sample', () => {
    const input: ReportInput = {
      ...ready,
      cluster: capiCluster('available', { labels: onlyBundles('metrics-server') }),
      importMode: 'none',
      bundles: [fleetBundle('metrics-server', true)],
      bundleDeployments: [bundleDeployment('metrics-server', 'Modified')],
    };
    expect(inputProblems(input)).toStrictEqual([]);
    const r = computeReport(input, undefined, at(0));
    expect(r.bundles.items).toStrictEqual([
      {
        name: fleetName('metrics-server'),
        bundle: 'metrics-server',
        namespace: 'fleet-default',
        state: 'Modified',
        nonReadyResources: [
          { kind: 'Deployment', namespace: 'cattle-gatekeeper-system', name: 'gatekeeper-audit', summary: 'modified' },
          { kind: 'Deployment', namespace: 'cattle-gatekeeper-system', name: 'gatekeeper-controller-manager', summary: 'modified' },
          { kind: 'ValidatingWebhookConfiguration', name: 'gatekeeper-validating-webhook-configuration', summary: 'modified' },
        ],
      },
    ]);
    expect([r.phase, r.conditions.find((c) => c.type === 'BundlesReady')?.reason]).toStrictEqual(['Degraded', 'BundlesModified']);
  });

  it('shows the bundles the Cluster asks for before Fleet has them, and only those', () => {
    const other = fleetBundle('metrics-server', true);
    other.metadata!.name = 'other-stack-calico';
    other.metadata!.labels = { ...other.metadata!.labels, 'llmstack.dev/stack': 'other' };
    const foreign = fleetBundle('x', true);
    foreign.metadata!.name = 'monitoring';
    foreign.metadata!.labels = { 'fleet.cattle.io/repo-name': 'ops' };
    const notAsked = fleetBundle('gpu-operator', false);
    const r = computeReport({ ...ready, bundles: [fleetBundle('metrics-server', true), other, foreign, notAsked], bundleDeployments: [bundleDeployment('metrics-server', 'Ready')] }, undefined, at(0));
    expect(r.bundles.items.map((i) => [i.name, i.state, i.message])).toStrictEqual([
      ['knative-operator', 'Pending', 'Fleet has not created this bundle yet'],
      ['knative-serving', 'Pending', 'Fleet has not created this bundle yet'],
      ['litellm', 'Pending', 'Fleet has not created this bundle yet'],
      ['llm-namespace', 'Pending', 'Fleet has not created this bundle yet'],
      ['local-path-storage', 'Pending', 'Fleet has not created this bundle yet'],
      ['monitoring', 'Pending', 'no BundleDeployment for this cluster yet'],
      ['ollama', 'Pending', 'Fleet has not created this bundle yet'],
      ['openwebui', 'Pending', 'Fleet has not created this bundle yet'],
      [fleetName('metrics-server'), 'Ready', undefined],
    ]);
    // the commit is the one of the GitRepo the bundles come from
    const repos = [gitRepo('aaaa'), { ...gitRepo('bbbb'), metadata: { name: 'ops', namespace: 'fleet-default' } }];
    expect(computeReport({ ...ready, bundles: [fleetBundle('metrics-server', true)], gitRepos: repos }, undefined, at(0)).bundles.commit).toBe('aaaa');
  });

  it('keeps bundle names unique, the list-map key of the CRD', () => {
    // GIVEN two Bundles of the same name in two Fleet namespaces (Rancher's and CAAPF's)
    const a = fleetBundle('metrics-server', true);
    const b = fleetBundle('metrics-server', true);
    b.metadata!.namespace = NS;
    const r = computeReport({ ...ready, cluster: capiCluster('available', { labels: onlyBundles('metrics-server') }), bundles: [a, b] }, undefined, at(0));
    expect(r.bundles.items.map((i) => i.name)).toStrictEqual([`${NS}/${fleetName('metrics-server')}`, `fleet-default/${fleetName('metrics-server')}`]);
    expect(reportProblems(r)).toStrictEqual([]);
  });

  it('takes the Bundle\'s own error when Fleet could not deploy it at all', () => {
    const broken = fleetBundle('ollama', false);
    broken.status = { conditions: [{ type: 'Ready', status: 'False', reason: 'Error', message: 'failed to load chart: 404 Not Found', lastUpdateTime: T0 }] };
    expect(inputProblems({ cluster: ready.cluster, bundles: [broken] })).toStrictEqual([]);
    const r = computeReport({ ...ready, bundles: [broken] }, undefined, at(0));
    expect(r.bundles.items.find((i) => i.bundle === 'ollama')).toStrictEqual({
      name: fleetName('ollama'),
      bundle: 'ollama',
      namespace: 'fleet-default',
      state: 'Pending',
      message: 'failed to load chart: 404 Not Found',
    });
  });

  describe('Secrets Fleet copies from the management cluster', () => {
    const MASTER = 'quickstart-litellm-master-key';
    const KEY = 'quickstart-default-models-ollama-key';
    const secret = (name: string) => ({ kind: 'Secret', name });
    // the Bundle as `fleet apply` makes it of the rendered fleet.yaml: the master key bundle-wide,
    // an endpoint key in a targetCustomization
    const litellm = () => {
      const b = fleetBundle('litellm', false);
      const spec = b.spec as Record<string, unknown>;
      spec.downstreamResources = [secret(MASTER)];
      (spec.targets as Record<string, unknown>[]).unshift({ name: 'default.llm-workload', clusterSelector: { matchLabels: { 'llmstack.dev/cluster': NAME } }, downstreamResources: [secret(KEY)] });
      return b;
    };
    // the BundleDeployment carries what Fleet merged for this cluster
    const deployedLitellm = (state: BdState) => {
      const bd = bundleDeployment('litellm', state);
      (bd.spec as { options: Record<string, unknown> }).options = { downstreamResources: [secret(MASTER), secret(KEY)] };
      return bd;
    };

    it('are read from the BundleDeployment, else from the Bundle\'s own list', () => {
      const before: ReportInput = { ...ready, bundles: [litellm()] };
      expect(inputProblems(before)).toStrictEqual([]);
      expect(secretsNeeded(before)).toStrictEqual([{ namespace: 'fleet-default', name: MASTER, bundles: [fleetName('litellm')] }]);
      const after: ReportInput = { ...ready, bundles: [litellm()], bundleDeployments: [deployedLitellm('WaitApplied')] };
      expect(inputProblems(after)).toStrictEqual([]);
      expect(secretsNeeded(after).map((n) => n.name)).toStrictEqual([KEY, MASTER]);
      // another stack's bundle is not this cluster's business
      const other = litellm();
      other.metadata!.labels = { ...other.metadata!.labels, 'llmstack.dev/stack': 'other' };
      other.metadata!.name = 'other-litellm';
      expect(secretsNeeded({ ...ready, bundles: [other] })).toStrictEqual([]);
    });

    it('block the rollout with a message that names them and the fix', () => {
      const input: ReportInput = { ...ready, bundles: BUNDLES.map((b) => (b === 'litellm' ? litellm() : fleetBundle(b, true))), bundleDeployments: [deployedLitellm('WaitApplied'), ...BUNDLES.filter((b) => b !== 'litellm').map((b) => bundleDeployment(b, 'Ready'))], missingSecrets: [{ namespace: 'fleet-default', name: KEY }] };
      const r = computeReport(input, undefined, at(0));
      expect(r.missingSecrets).toStrictEqual([{ namespace: 'fleet-default', name: KEY, bundles: [fleetName('litellm')] }]);
      expect(r.bundles.items[0]).toStrictEqual({
        name: fleetName('litellm'),
        bundle: 'litellm',
        namespace: 'fleet-default',
        state: 'WaitApplied',
        message: `waiting for Secret fleet-default/${KEY} on the management cluster (Fleet copies it to the cluster from there)`,
      });
      expect(r.phase).toBe('Deploying');
      expect(r.message).toBe(`blocked, missing on the management cluster: fleet-default/${KEY} (needed by ${fleetName('litellm')}); \`llmstack secrets --spec FILE\` makes llmstack's own and names the rest`);
      expect(r.conditions.find((c) => c.type === 'BundlesReady')).toMatchObject({ status: 'False', reason: 'SecretsMissing' });
      expect(reportProblems(r)).toStrictEqual([]);
      // a failed bundle still comes first
      const failed = computeReport({ ...input, bundleDeployments: [...input.bundleDeployments!.slice(1), bundleDeployment('openwebui', 'ErrApplied')] }, undefined, at(0));
      expect(failed.conditions.find((c) => c.type === 'BundlesReady')?.reason).toBe('BundlesFailed');
    });

    it('make a deployed cluster Degraded: its next rollout would stall', () => {
      const deployed = BUNDLES.map((b) => (b === 'litellm' ? deployedLitellm('Ready') : bundleDeployment(b, 'Ready')));
      const r = computeReport({ ...ready, importMode: 'none', bundles: [litellm()], bundleDeployments: deployed, missingSecrets: [{ namespace: 'fleet-default', name: MASTER }] }, undefined, at(0));
      expect([r.phase, r.bundles.summary, r.conditions.find((c) => c.type === 'BundlesReady')?.status]).toStrictEqual(['Degraded', '8/8', 'True']);
      expect(r.message).toMatch(new RegExp(`^missing on the management cluster: fleet-default/${MASTER} .*the next rollout stalls\\)$`));
    });

    it('say nothing when none is missing or they were not checked', () => {
      const input: ReportInput = { ...ready, bundles: [litellm()], bundleDeployments: [deployedLitellm('WaitApplied')] };
      for (const missingSecrets of [undefined, []]) {
        const r = computeReport({ ...input, missingSecrets }, undefined, at(0));
        expect(r).not.toHaveProperty('missingSecrets');
        expect(r.conditions.find((c) => c.type === 'BundlesReady')?.reason).toBe('BundlesNotReady');
      }
    });
  });

  it('says NoBundles for a cluster llmstack did not generate and Fleet sends nothing', () => {
    const c = capiCluster('available', { labels: Object.fromEntries(BUNDLES.map((b) => [`bundle.llmstack.dev/${b}`, '<delete>'])) });
    const r = computeReport({ cluster: c, importMode: 'none' }, undefined, at(0));
    // (not Ready for another reason: its autoscaled pool's autoscaler has not been read)
    expect([r.phase, r.bundles.summary, r.conditions.find((x) => x.type === 'BundlesReady')?.reason]).toStrictEqual(['Deploying', '0/0', 'NoBundles']);
  });
});

// -------------------------------------------------------------------------------------- node pools

describe('node pools', () => {
  const cluster = capiCluster('available');
  const nodes = (mds: ObjectLike[]) => computeReport({ cluster, importMode: 'none', machineDeployments: mds }, undefined, at(0));

  it('sums ready nodes and the autoscaling range; a fixed pool counts its replicas', () => {
    const r = nodes([machineDeployment(2, 2), machineDeployment(1, 0, { name: 'llm-workload-gpu-2bq7m', pool: 'gpu', range: [0, 2] }), fixedPool('llm-workload-infra-7xvbn', 'infra', 2, 2)]);
    expect(r.nodes).toStrictEqual({ summary: '4 (3..7)', ready: 4, desired: 5, min: 3, max: 7 });
    expect(r.nodePools.map((p) => p.name)).toStrictEqual(['gpu', 'infra', 'md-0']);
    expect(r.nodePools[1]).toStrictEqual({ name: 'infra', machineDeployment: 'llm-workload-infra-7xvbn', replicas: 2, readyReplicas: 2 });
  });

  it('shows just the ready count when no pool is autoscaled', () => {
    expect(nodes([fixedPool('llm-workload-md-0-abcde', 'md-0', 2, 2)]).nodes).toStrictEqual({ summary: '2', ready: 2, desired: 2 });
  });

  it('ignores MachineDeployments of other clusters and reads v1beta1 ones', () => {
    const foreign = machineDeployment(3, 3, { name: 'other-md-0-zzzzz', cluster: 'other' });
    const old: ObjectLike = {
      apiVersion: 'cluster.x-k8s.io/v1beta1',
      kind: 'MachineDeployment',
      metadata: { name: 'llm-workload-legacy', namespace: NS, labels: { 'cluster.x-k8s.io/cluster-name': NAME } },
      spec: {
        clusterName: NAME,
        replicas: 1,
        selector: { matchLabels: {} },
        template: { spec: { clusterName: NAME, bootstrap: { configRef: { apiVersion: 'bootstrap.cluster.x-k8s.io/v1beta1', kind: 'KubeadmConfigTemplate', name: 'x' } }, infrastructureRef: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'DockerMachineTemplate', name: 'x' } } },
      },
      status: { replicas: 1, v1beta2: { readyReplicas: 1 } },
    };
    expect(inputProblems({ cluster, machineDeployments: [foreign, old] })).toStrictEqual([]);
    expect(nodes([foreign, old]).nodePools).toStrictEqual([
      { name: 'llm-workload-legacy', machineDeployment: 'llm-workload-legacy', replicas: 1, readyReplicas: 1 },
      // md-0 of the topology, whose MachineDeployment is not there (yet)
      { name: 'md-0', min: 1, max: 3, readyReplicas: 0 },
    ]);
  });
});

// -------------------------------------------------------------------------------------- autoscaler

describe('autoscaler health', () => {
  const allReady = {
    cluster: capiCluster('available'),
    namespace: namespaceObject(),
    rancherClusters: [rancherCluster([v2('AgentDeployed', 'True', 'Deployed'), v2('Ready', 'True', 'Ready')])],
    bundles: BUNDLES.map((b) => fleetBundle(b, true)),
    bundleDeployments: BUNDLES.map((b) => bundleDeployment(b, 'Ready')),
    machineDeployments: [machineDeployment(2, 2)],
  };
  const autoCondition = (s: LLMClusterStatus) => s.conditions.find((c) => c.type === 'AutoscalerHealthy');

  it('is Unhealthy, and the cluster Degraded, when a pool is in scale-up backoff', () => {
    const r = computeReport({ ...allReady, autoscaler: autoscaler({ probe: at(0), ready: 2, target: 3, backoff: true }) }, undefined, at(0));
    const why = "md-0: scale-up backoff: QUOTA_EXCEEDED: Instance 'sample-node-group-40ce0341-t28s' creation failed: Quota 'CPUS' exceeded. Limit: 57.0 in region us-central1.";
    expect(r.autoscaler).toStrictEqual({ health: 'Unhealthy', format: 'yaml', message: why });
    expect([r.phase, r.message]).toStrictEqual(['Degraded', `autoscaler unhealthy: ${why}`]);
    expect(autoCondition(r)).toStrictEqual({ type: 'AutoscalerHealthy', status: 'False', lastTransitionTime: at(0), reason: 'Unhealthy', message: why });
  });

  it('is Unhealthy when its cluster-wide health says so', () => {
    const r = computeReport({ ...allReady, autoscaler: autoscaler({ probe: at(0), ready: 2, target: 2, health: 'Unhealthy' }) }, undefined, at(0));
    expect(r.autoscaler).toStrictEqual({ health: 'Unhealthy', format: 'yaml', message: 'cluster-wide health Unhealthy' });
  });

  it('notices an autoscaler that stopped probing, and only then reports lastProbeTime', () => {
    const input = { ...allReady, autoscaler: autoscaler({ probe: at(0), ready: 2, target: 2 }) };
    expect(computeReport(input, undefined, at(5)).autoscaler).toStrictEqual({ health: 'Healthy', format: 'yaml' });
    const stale = computeReport(input, undefined, at(6));
    expect(stale.autoscaler).toStrictEqual({
      health: 'Unhealthy',
      format: 'yaml',
      lastProbeTime: at(0),
      message: `no autoscaler probe since ${at(0)}: is the cluster-autoscaler running?`,
    });
    expect(autoCondition(stale)?.reason).toBe('NoRecentProbe');
    expect(computeReport({ ...input, autoscalerStaleAfterSeconds: 3600 }, undefined, at(30)).autoscaler.health).toBe('Healthy');
  });

  it('reads the legacy text format through the same path', () => {
    const text = readFileSync(path.join(sharedDir(), 'fixtures/cluster-autoscaler/status-legacy-text-bizflycloud-2021.txt'), 'utf8');
    const r = computeReport({ ...allReady, autoscaler: observedAutoscaler(parseAutoscalerStatus(text)) }, undefined, '2021-04-05T08:40:00Z');
    expect(r.autoscaler).toStrictEqual({ health: 'Healthy', format: 'text' });
    expect(r.phase).toBe('Ready');
  });

  it('is Unparseable with the parse error, which keeps the cluster from Ready', () => {
    const r = computeReport({ ...allReady, autoscaler: observedAutoscaler(parseAutoscalerStatus('garbage: [')) }, undefined, at(0));
    expect(r.autoscaler.health).toBe('Unparseable');
    expect(r.autoscaler.message).toMatch(/^the autoscaler status is neither the text format .* nor valid YAML: /);
    expect(autoCondition(r)?.status).toBe('Unknown');
    expect(autoCondition(r)?.reason).toBe('StatusUnparseable');
    expect(r.phase).toBe('Degraded');
    expect(r.message).toMatch(/^the cluster-autoscaler status cannot be read: the autoscaler status is neither/);
  });

  it('needs no autoscaler when no pool is autoscaled', () => {
    const fixed = { ...allReady, machineDeployments: [fixedPool(MD, 'md-0', 2, 2)] };
    const r = computeReport({ ...fixed, autoscaler: { kind: 'notDeployed' } }, undefined, at(0));
    expect(r.autoscaler).toStrictEqual({ health: 'NotDeployed', message: 'no cluster-autoscaler-status ConfigMap in the workload cluster' });
    expect(autoCondition(r)).toStrictEqual({ type: 'AutoscalerHealthy', status: 'True', lastTransitionTime: at(0), reason: 'NotRequired', message: 'no node pool is autoscaled' });
    const missing = computeReport({ ...allReady, autoscaler: { kind: 'notDeployed' } }, undefined, at(0));
    // an autoscaled pool whose autoscaler is not known to be healthy: not Ready yet
    expect([autoCondition(missing)?.status, autoCondition(missing)?.reason, missing.phase]).toStrictEqual(['Unknown', 'StatusNotFound', 'Deploying']);
    expect(missing.message).toBe('waiting for the cluster-autoscaler: no cluster-autoscaler-status ConfigMap in the workload cluster');
    const unread = computeReport({ ...allReady, autoscaler: undefined }, undefined, at(0));
    expect([unread.phase, unread.message]).toStrictEqual(['Deploying', 'waiting for the cluster-autoscaler: the autoscaler status has not been read yet']);
    // and with no autoscaled pool, Ready needs none
    expect(r.phase).toBe('Ready');
  });

  it('waits while the autoscaler initializes', () => {
    const r = computeReport({ ...allReady, autoscaler: observedAutoscaler(parseAutoscalerStatus('autoscalerStatus: Initializing\n')) }, undefined, at(0));
    expect(r.autoscaler).toStrictEqual({ health: 'Unknown', format: 'yaml', message: 'the cluster-autoscaler is initializing' });
    expect(autoCondition(r)?.reason).toBe('Initializing');
  });
});

// ------------------------------------------------------------------------ conditions and determinism

describe('conditions over time', () => {
  const input = (bundleState: 'Ready' | 'NotReady' | 'ErrApplied'): ReportInput => ({
    cluster: capiCluster('available', { labels: onlyBundles('metrics-server') }),
    importMode: 'none',
    bundles: [fleetBundle('metrics-server', bundleState === 'Ready')],
    bundleDeployments: [bundleDeployment('metrics-server', bundleState)],
  });
  const cond = (s: LLMClusterStatus, type: string) => s.conditions.find((c) => c.type === type)!;

  it('keeps lastTransitionTime while the status stays, even when reason and message change', () => {
    // GIVEN a cluster whose bundle is NotReady at 10:00
    const first = computeReport(input('NotReady'), undefined, at(0));
    // WHEN it fails at 10:05 (still not ready, other reason) and recovers at 10:09
    const failing = computeReport(input('ErrApplied'), first, at(5));
    const recovered = computeReport(input('Ready'), failing, at(9));
    // THEN the time moves only with the status
    expect(cond(failing, 'BundlesReady')).toMatchObject({ status: 'False', reason: 'BundlesFailed', lastTransitionTime: at(0) });
    expect(cond(recovered, 'BundlesReady')).toMatchObject({ status: 'True', reason: 'AllBundlesReady', lastTransitionTime: at(9) });
    expect(cond(recovered, 'Provisioned').lastTransitionTime).toBe(at(0));
  });

  it('writes times at second precision, as Kubernetes does', () => {
    expect(computeReport(input('Ready'), undefined, '2026-08-01T10:00:00.987Z').conditions[0]!.lastTransitionTime).toBe('2026-08-01T10:00:00Z');
  });

  it('carries observedGeneration', () => {
    const r = computeReport({ ...input('Ready'), observedGeneration: 3 }, undefined, at(0));
    expect(r.observedGeneration).toBe(3);
    expect(r.conditions.every((c) => c.observedGeneration === 3)).toBe(true);
    expect(reportProblems(r)).toStrictEqual([]);
  });

  it('gives an identical status for the same objects in any order', () => {
    const mds = [machineDeployment(2, 2), machineDeployment(1, 0, { name: 'llm-workload-gpu-2bq7m', pool: 'gpu', range: [0, 2] })];
    const bundles = BUNDLES.map((b) => fleetBundle(b, false));
    const bds = BUNDLES.map((b, i) => bundleDeployment(b, (['Ready', 'NotReady', 'WaitApplied', 'Modified'] as const)[i % 4]!));
    const base: ReportInput = {
      cluster: capiCluster('available'),
      namespace: namespaceObject(),
      rancherClusters: [rancherCluster([v2('Ready', 'True', 'Ready')])],
      gitRepos: [gitRepo()],
      autoscaler: autoscaler({ probe: at(0), ready: 2, target: 2 }),
    };
    const a = computeReport({ ...base, machineDeployments: mds, bundles, bundleDeployments: bds }, undefined, at(0));
    const b = computeReport({ ...base, machineDeployments: [...mds].reverse(), bundles: [...bundles].reverse(), bundleDeployments: [...bds].reverse() }, undefined, at(0));
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(JSON.stringify(computeReport({ ...base, machineDeployments: mds, bundles, bundleDeployments: bds }, a, at(3)))).toBe(JSON.stringify(a));
    expect(reportProblems(a)).toStrictEqual([]);
  });
});

describe('a status of another shape', () => {
  it('is usable only in the shape this version writes', () => {
    const status = computeReport({ cluster: capiCluster('created') }, undefined, '2026-01-01T00:00:00Z');
    expect(usableStatus(status)).toBe(status);
    expect(usableStatus(JSON.parse(JSON.stringify(status)))).toStrictEqual(status);
    for (const partial of [
      undefined,
      'Ready',
      [],
      { phase: 'Ready' },
      { ...status, import: undefined },
      { ...status, bundles: { ...status.bundles, items: undefined } },
      { ...status, bundles: { ...status.bundles, items: [{ name: 'x' }] } },
      { ...status, conditions: {} },
      { ...status, phase: 3 },
    ]) {
      expect(usableStatus(partial), JSON.stringify(partial)?.slice(0, 80)).toBeUndefined();
    }
    // and the events of a first report follow when the previous one is not usable
    expect(transitions(usableStatus({ phase: 'Ready' }), status).map((e) => e.reason)).toStrictEqual(['PhaseChanged']);
  });
});
