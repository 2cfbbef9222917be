// transitions(): the Events a change of report deserves, and none when nothing changed.
import { describe, expect, it } from 'vitest';
import { transitions } from '../../src/controller/events.js';
import type { BundleReport, LLMClusterStatus } from '../../src/controller/types.js';

function status(patch: Partial<LLMClusterStatus> = {}): LLMClusterStatus {
  return {
    phase: 'Ready',
    message: 'bundles 2/2 ready, nodes 2 (1..3)',
    import: { state: 'AgentReady', rancherCluster: 'c-7xk2p', message: 'imported into Rancher as c-7xk2p' },
    bundles: {
      summary: '2/2',
      ready: 2,
      total: 2,
      commit: 'aaaa111',
      items: [
        { name: 'apps-calico', bundle: 'calico', state: 'Ready' },
        { name: 'apps-ollama', bundle: 'ollama', state: 'Ready' },
      ],
    },
    nodes: { summary: '2 (1..3)', ready: 2, desired: 2, min: 1, max: 3 },
    nodePools: [{ name: 'md-0', min: 1, max: 3, replicas: 2, readyReplicas: 2 }],
    autoscaler: { health: 'Healthy', format: 'yaml' },
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-08-01T10:00:00Z', reason: 'Ready', message: '' }],
    ...patch,
  };
}

function withBundles(items: BundleReport[], commit = 'aaaa111'): Partial<LLMClusterStatus> {
  const ready = items.filter((i) => i.state === 'Ready').length;
  return { bundles: { summary: `${ready}/${items.length}`, ready, total: items.length, commit, items } };
}

describe('transitions', () => {
  it('emits nothing when nothing changed', () => {
    expect(transitions(status(), status())).toStrictEqual([]);
    // a new message alone is no transition
    expect(transitions(status(), status({ message: 'bundles 2/2 ready, nodes 3 (1..3)' }))).toStrictEqual([]);
  });

  it('reports the first phase, and only warnings besides, for a cluster seen for the first time', () => {
    expect(transitions(undefined, status())).toStrictEqual([{ type: 'Normal', reason: 'PhaseChanged', message: 'Ready: bundles 2/2 ready, nodes 2 (1..3)' }]);
    const failing = status({
      phase: 'Degraded',
      message: 'bundle apps-ollama ErrApplied: boom',
      ...withBundles([
        { name: 'apps-calico', state: 'Ready' },
        { name: 'apps-ollama', state: 'ErrApplied', message: 'boom' },
      ]),
    });
    expect(transitions(undefined, failing)).toStrictEqual([
      { type: 'Warning', reason: 'PhaseChanged', message: 'Degraded: bundle apps-ollama ErrApplied: boom' },
      { type: 'Warning', reason: 'BundleFailed', message: 'bundle apps-ollama: boom' },
    ]);
  });

  it('follows the import from Rancher cluster to ready agent', () => {
    const imp = (state: LLMClusterStatus['import']['state'], message?: string) =>
      status({ phase: 'Importing', import: { state, rancherCluster: state === 'Pending' ? undefined : 'c-7xk2p', ...(message ? { message } : {}) } });
    expect(transitions(imp('Pending'), imp('Importing', 'Rancher cluster c-7xk2p created, waiting for Turtles to deploy the agent'))).toStrictEqual([
      { type: 'Normal', reason: 'ImportStarted', message: 'Rancher cluster c-7xk2p created, waiting for Turtles to deploy the agent' },
    ]);
    expect(transitions(imp('Importing'), imp('Imported'))).toStrictEqual([{ type: 'Normal', reason: 'AgentDeployed', message: 'Rancher agent deployed for c-7xk2p' }]);
    expect(transitions(imp('Imported'), imp('AgentReady'))).toStrictEqual([{ type: 'Normal', reason: 'Imported', message: 'imported into Rancher as c-7xk2p' }]);
    expect(transitions(imp('AgentReady'), imp('Imported', 'Rancher agent deployed, waiting for it to become ready: Cluster agent is not connected'))).toStrictEqual([
      { type: 'Warning', reason: 'AgentNotReady', message: 'the Rancher agent of c-7xk2p is no longer ready: Rancher agent deployed, waiting for it to become ready: Cluster agent is not connected' },
    ]);
    expect(transitions(imp('Importing'), imp('Failed', 'Rancher reports AgentDeployed: connection refused'))).toStrictEqual([
      { type: 'Warning', reason: 'ImportFailed', message: 'Rancher reports AgentDeployed: connection refused' },
    ]);
    expect(transitions(imp('Pending'), imp('OptedOut', 'the Cluster has cluster-api.cattle.io/rancher-auto-import=false'))).toStrictEqual([
      { type: 'Normal', reason: 'ImportSkipped', message: 'the Cluster has cluster-api.cattle.io/rancher-auto-import=false' },
    ]);
    // states on the way that need no event
    expect(transitions(imp('WaitingForControlPlane'), imp('Pending'))).toStrictEqual([]);
  });

  it('names failed and modified bundles, their recovery, and the moment all are ready', () => {
    const rolling = status({
      phase: 'Deploying',
      message: '1/2 bundles ready',
      ...withBundles([
        { name: 'apps-calico', state: 'Ready' },
        { name: 'apps-ollama', state: 'NotReady' },
      ]),
    });
    const failed = status({
      phase: 'Degraded',
      message: 'bundle apps-ollama ErrApplied: chart requires kubeVersion >=1.34',
      ...withBundles([
        { name: 'apps-calico', state: 'Modified', nonReadyResources: [{ kind: 'Deployment', namespace: 'kube-system', name: 'calico-kube-controllers', summary: 'modified' }, { kind: 'Pod', namespace: 'x', name: 'y', summary: 'in-progress' }] },
        { name: 'apps-ollama', state: 'ErrApplied', message: 'chart requires kubeVersion >=1.34' },
      ]),
    });
    expect(transitions(rolling, failed)).toStrictEqual([
      { type: 'Warning', reason: 'PhaseChanged', message: 'Deploying -> Degraded: bundle apps-ollama ErrApplied: chart requires kubeVersion >=1.34' },
      { type: 'Warning', reason: 'BundleModified', message: 'bundle apps-calico was changed on the cluster: Deployment kube-system/calico-kube-controllers modified' },
      { type: 'Warning', reason: 'BundleFailed', message: 'bundle apps-ollama: chart requires kubeVersion >=1.34' },
    ]);
    expect(transitions(failed, status())).toStrictEqual([
      { type: 'Normal', reason: 'PhaseChanged', message: 'Degraded -> Ready: bundles 2/2 ready, nodes 2 (1..3)' },
      { type: 'Normal', reason: 'BundleRecovered', message: 'bundle apps-calico is Ready again' },
      { type: 'Normal', reason: 'BundleRecovered', message: 'bundle apps-ollama is Ready again' },
      { type: 'Normal', reason: 'BundlesReady', message: 'all 2 bundles ready at commit aaaa111' },
    ]);
    // rolling out to ready: no per-bundle noise, one BundlesReady
    expect(transitions(rolling, status()).map((e) => e.reason)).toStrictEqual(['PhaseChanged', 'BundlesReady']);
  });

  it('announces a new commit', () => {
    const next = status({
      phase: 'Deploying',
      message: '1/2 bundles ready',
      ...withBundles(
        [
          { name: 'apps-calico', state: 'Ready' },
          { name: 'apps-ollama', state: 'WaitApplied' },
        ],
        'bbbb222',
      ),
    });
    expect(transitions(status(), next)).toStrictEqual([
      { type: 'Normal', reason: 'PhaseChanged', message: 'Ready -> Deploying: 1/2 bundles ready' },
      { type: 'Normal', reason: 'RolloutStarted', message: 'rolling out commit bbbb222 (was aaaa111)' },
    ]);
  });

  it('warns when the autoscaler turns unhealthy or unreadable, and says when it is back', () => {
    const unhealthy = status({ phase: 'Degraded', message: 'autoscaler unhealthy: md-0: scale-up backoff', autoscaler: { health: 'Unhealthy', format: 'yaml', message: 'md-0: scale-up backoff' } });
    expect(transitions(status(), unhealthy)).toStrictEqual([
      { type: 'Warning', reason: 'PhaseChanged', message: 'Ready -> Degraded: autoscaler unhealthy: md-0: scale-up backoff' },
      { type: 'Warning', reason: 'AutoscalerUnhealthy', message: 'md-0: scale-up backoff' },
    ]);
    expect(transitions(unhealthy, status())).toContainEqual({ type: 'Normal', reason: 'AutoscalerHealthy', message: 'the cluster-autoscaler reports Healthy again' });
    const unreadable = status({ autoscaler: { health: 'Unparseable', message: 'line 3: unexpected text' } });
    expect(transitions(status(), unreadable)).toStrictEqual([{ type: 'Warning', reason: 'AutoscalerStatusUnparseable', message: 'line 3: unexpected text' }]);
    // first sight of a healthy autoscaler is no news
    expect(transitions(status({ autoscaler: { health: 'Unknown' } }), status())).toStrictEqual([]);
  });

  it('warns once for each Secret that goes missing, not while it stays missing', () => {
    const missing = (...names: string[]) => status({ missingSecrets: names.map((name) => ({ namespace: 'fleet-default', name, bundles: ['apps-litellm'] })) });
    expect(transitions(status(), missing('master'))).toStrictEqual([
      { type: 'Warning', reason: 'SecretMissing', message: 'Secret fleet-default/master is missing on the management cluster; Fleet cannot copy it for apps-litellm' },
    ]);
    expect(transitions(missing('master'), missing('master'))).toStrictEqual([]);
    expect(transitions(missing('master'), missing('master', 'openai')).map((e) => e.message)).toStrictEqual([
      'Secret fleet-default/openai is missing on the management cluster; Fleet cannot copy it for apps-litellm',
    ]);
    expect(transitions(missing('master'), status())).toStrictEqual([]);
  });

  it('keeps messages within what an Event holds', () => {
    const long = 'x'.repeat(5000);
    const [event] = transitions(status(), status({ import: { state: 'Failed', rancherCluster: 'c-7xk2p', message: long } }));
    expect(event!.reason).toBe('ImportFailed');
    expect(event!.message.length).toBe(1024);
    expect(event!.message.endsWith('…')).toBe(true);
  });
});
