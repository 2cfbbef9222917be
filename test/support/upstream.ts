// What CAPI, Turtles, Fleet and the cluster-autoscaler would write, in their real formats, for tests
// that run the controller on a real API server (those controllers cannot run here).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { isConflict, kubeRequest as call } from '../../src/kube/http.js';
import { apiPath, RESOURCES, type KubeObject, type ResourceType } from '../../src/kube/resources.js';
import { applyObject } from '../../src/kube/write.js';
import { loadCatalog } from '../../src/catalog/load.js';
import { renderControllerAccess } from '../../src/render/controller-access.js';
import { parseSpec } from '../../src/spec/load.js';
import { sharedDir } from './paths.js';

export const STACK = 'quickstart';
export const BUNDLES = ['knative-operator', 'knative-serving', 'litellm', 'llm-namespace', 'local-path-storage', 'metrics-server', 'ollama', 'openwebui'];

const cond = (type: string, status: string, reason: string, message = '') => ({ type, status, reason, message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });

export async function create(kc: KubeConfig, rt: ResourceType, obj: KubeObject): Promise<KubeObject> {
  return call<KubeObject>(kc, 'POST', apiPath(rt, obj.metadata.namespace), { body: obj });
}

/** Writes status through the status subresource, as the owning controller does. */
export async function writeStatus(kc: KubeConfig, rt: ResourceType, namespace: string | undefined, name: string, status: unknown): Promise<void> {
  await call(kc, 'PATCH', apiPath(rt, namespace, name, 'status'), { body: { status }, contentType: 'application/merge-patch+json' });
}

export async function patchLabels(kc: KubeConfig, rt: ResourceType, namespace: string | undefined, name: string, labels: Record<string, string | null>): Promise<void> {
  await call(kc, 'PATCH', apiPath(rt, namespace, name), { body: { metadata: { labels } }, contentType: 'application/merge-patch+json' });
}

/** A topology Cluster as `llmstack generate` writes it (the labels that matter to the controller). */
export function capiCluster(ns: string, name: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: {
      name,
      namespace: ns,
      labels: { 'llmstack.dev/stack': STACK, 'llmstack.dev/cluster': name, ...Object.fromEntries(BUNDLES.map((b) => [`bundle.llmstack.dev/${b}`, 'true'])), ...labels },
    },
    spec: {
      clusterNetwork: { pods: { cidrBlocks: ['192.168.0.0/16'] }, services: { cidrBlocks: ['10.128.0.0/12'] } },
      topology: {
        classRef: { name: 'docker-llm' },
        version: 'v1.33.1',
        controlPlane: { replicas: 1 },
        workers: {
          machineDeployments: [
            {
              class: 'default-worker',
              name: 'md-0',
              metadata: {
                annotations: {
                  'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '1',
                  'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': '3',
                },
              },
            },
          ],
        },
      },
    },
  };
}

/** The `<cluster>-kubeconfig` Secret as Cluster API's control plane provider writes it (key `value`). */
export function kubeconfigSecret(ns: string, cluster: string, kubeconfig: Buffer | string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'cluster.x-k8s.io/secret',
    metadata: { name: `${cluster}-kubeconfig`, namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': cluster } },
    data: { value: Buffer.from(kubeconfig).toString('base64') },
  } as KubeObject;
}

/** CAPI's status once the control plane answers. */
export function capiProvisioned(): Record<string, unknown> {
  return {
    phase: 'Provisioned',
    initialization: { infrastructureProvisioned: true, controlPlaneInitialized: true },
    conditions: [
      cond('Available', 'True', 'Available'),
      cond('InfrastructureReady', 'True', 'Ready'),
      cond('ControlPlaneInitialized', 'True', 'Initialized'),
      cond('ControlPlaneAvailable', 'True', 'Available'),
      cond('RemoteConnectionProbe', 'True', 'ProbeSucceeded'),
    ],
  };
}

export function machineDeployment(ns: string, cluster: string, mdName: string, replicas: number): KubeObject {
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'MachineDeployment',
    metadata: {
      name: mdName,
      namespace: ns,
      labels: { 'cluster.x-k8s.io/cluster-name': cluster, 'topology.cluster.x-k8s.io/owned': '', 'topology.cluster.x-k8s.io/deployment-name': 'md-0' },
      annotations: {
        'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '1',
        'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': '3',
      },
    },
    spec: {
      clusterName: cluster,
      replicas,
      selector: { matchLabels: { 'cluster.x-k8s.io/cluster-name': cluster } },
      template: {
        metadata: { labels: { 'cluster.x-k8s.io/cluster-name': cluster } },
        spec: {
          clusterName: cluster,
          version: 'v1.33.1',
          bootstrap: { configRef: { apiGroup: 'bootstrap.cluster.x-k8s.io', kind: 'KubeadmConfigTemplate', name: `${mdName}-bootstrap` } },
          infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerMachineTemplate', name: `${mdName}-infra` },
        },
      },
    },
  };
}

/** The management.cattle.io Cluster Turtles creates on import (the test CRD is namespaced). */
export function rancherCluster(ns: string, capiName: string, rancherName: string): KubeObject {
  return {
    apiVersion: 'management.cattle.io/v3',
    kind: 'Cluster',
    metadata: {
      name: rancherName,
      namespace: ns,
      labels: { 'cluster-api.cattle.io/capi-cluster-owner': capiName, 'cluster-api.cattle.io/capi-cluster-owner-ns': ns, 'cluster-api.cattle.io/owned': '' },
    },
    spec: { displayName: capiName, description: 'CAPI cluster imported to Rancher' },
  };
}

/** Rancher's conditions (the CRD's v1beta1-style condition shape), agent deployed and ready. */
export function rancherAgentReady(): Record<string, unknown> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    conditions: [
      { type: 'AgentDeployed', status: 'True', lastTransitionTime: now },
      { type: 'Ready', status: 'True', lastTransitionTime: now },
    ],
  };
}

/** The Fleet Cluster Rancher registers in fleet-default for an imported cluster. */
export function fleetCluster(rancherName: string, agentNamespace: string, capiLabels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'fleet.cattle.io/v1alpha1',
    kind: 'Cluster',
    metadata: { name: rancherName, namespace: 'fleet-default', labels: { ...capiLabels, 'management.cattle.io/cluster-name': rancherName } },
    spec: { kubeConfigSecret: `${rancherName}-kubeconfig`, agentNamespace: 'cattle-fleet-system' },
  };
}

export const fleetBundleName = (b: string) => `${STACK}-apps-bundles-${b}`;

export function fleetBundle(b: string): KubeObject {
  return {
    apiVersion: 'fleet.cattle.io/v1alpha1',
    kind: 'Bundle',
    metadata: {
      name: fleetBundleName(b),
      namespace: 'fleet-default',
      labels: { 'fleet.cattle.io/repo-name': `${STACK}-apps`, 'llmstack.dev/bundle': b, 'llmstack.dev/stack': STACK },
    },
    spec: { defaultNamespace: 'llm', targets: [{ clusterSelector: { matchLabels: { [`bundle.llmstack.dev/${b}`]: 'true', 'llmstack.dev/stack': STACK } } }] },
  };
}

export function bundleDeployment(b: string, agentNamespace: string, fleetClusterName: string): KubeObject {
  return {
    apiVersion: 'fleet.cattle.io/v1alpha1',
    kind: 'BundleDeployment',
    metadata: {
      name: fleetBundleName(b),
      namespace: agentNamespace,
      labels: {
        'fleet.cattle.io/bundle-name': fleetBundleName(b),
        'fleet.cattle.io/bundle-namespace': 'fleet-default',
        'fleet.cattle.io/cluster': fleetClusterName,
        'fleet.cattle.io/cluster-namespace': 'fleet-default',
      },
    },
    spec: { deploymentID: `s-${b}:1`, options: { defaultNamespace: 'llm' } },
  };
}

/** The agent's report of a deployed, ready bundle. */
export function bundleDeploymentReady(b: string): Record<string, unknown> {
  const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const c = (type: string) => ({ type, status: 'True', lastUpdateTime: t });
  return { appliedDeploymentID: `s-${b}:1`, ready: true, nonModified: true, display: { deployed: 'True', monitored: 'True', state: 'Ready' }, conditions: [c('Installed'), c('Deployed'), c('Ready'), c('Monitored')] };
}

export function gitRepo(): KubeObject {
  return {
    apiVersion: 'fleet.cattle.io/v1alpha1',
    kind: 'GitRepo',
    metadata: { name: `${STACK}-apps`, namespace: 'fleet-default' },
    spec: { repo: 'http://git.example.test/gitops.git', branch: 'main', paths: ['bundles'] },
  };
}

/** A cluster-autoscaler 1.36 status ConfigMap body made from upstream's sample, probed now, for one MachineDeployment. */
export function autoscalerStatusText(ns: string, mdName: string, opts: { ready: number; target: number }): string {
  const s = parse(readFileSync(path.join(sharedDir(), 'fixtures/cluster-autoscaler/status-yaml-ca-1.36.1.yaml'), 'utf8')) as Record<string, unknown>;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const text = stringify(s).replace(/20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, now);
  const doc = parse(text) as {
    nodeGroups: { name: string; health: { cloudProviderTarget: number; minSize: number; maxSize: number; nodeCounts: { registered: { ready: number; total: number } } }; scaleUp: Record<string, unknown>; backoffInfo?: unknown }[];
  };
  const group = doc.nodeGroups[0]!;
  // Upstream's sample is in a scale-up backoff; a healthy group has no scale-up activity.
  group.scaleUp = { ...group.scaleUp, status: 'NoActivity' };
  delete group.backoffInfo;
  group.name = `MachineDeployment/${ns}/${mdName}`;
  group.health.cloudProviderTarget = opts.target;
  group.health.minSize = 1;
  group.health.maxSize = 3;
  group.health.nodeCounts.registered.ready = opts.ready;
  group.health.nodeCounts.registered.total = opts.ready;
  doc.nodeGroups = [group];
  return stringify(doc);
}

/** The shared test CRD for Rancher's management Cluster is namespaced (real Rancher's is cluster-scoped). */
export const TEST_RANCHER_CLUSTER: ResourceType = { ...RESOURCES.rancherCluster, namespaced: true };

export { RESOURCES };

/**
 * What the generated controller-access.yaml of a cluster grants (a Role reading exactly its kubeconfig
 * Secret), bound to `serviceAccount`, the identity a test runs the controller as.
 */
export async function grantKubeconfigAccess(admin: KubeConfig, serviceAccount: { namespace: string; name: string }, ns: string, cluster: string): Promise<void> {
  const spec = `apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: t}\nspec:\n  clusters: [{name: ${cluster}, namespace: ${ns}, class: docker-llm}]\n`;
  const stack = parseSpec(spec, 't.yaml', await loadCatalog());
  await grantControllerAccess(admin, serviceAccount, renderControllerAccess(stack, stack.spec.clusters[0]!) as KubeObject[]);
}

/**
 * Applies a cluster's rendered controller-access.yaml for `serviceAccount` (the bundles' namespace,
 * fleet-default, made if missing, as Rancher would have), then waits until the API server's
 * authorizer allows every read it grants: it learns of a new RoleBinding through its own watch, so a
 * controller that reads at once would be refused for a moment.
 */
export async function grantControllerAccess(admin: KubeConfig, serviceAccount: { namespace: string; name: string }, objects: KubeObject[]): Promise<void> {
  for (const ns of new Set(objects.map((o) => o.metadata.namespace!))) {
    await create(admin, RESOURCES.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch((e: unknown) => {
      if (!isConflict(e)) throw e;
    });
  }
  for (const o of objects) {
    const obj = o.kind === 'RoleBinding' ? { ...o, subjects: [{ kind: 'ServiceAccount', ...serviceAccount }] } : o;
    await applyObject(admin, obj, 'llmstack-test');
  }
  const reads = objects
    .filter((o) => o.kind === 'Role')
    .flatMap((o) => ((o as { rules?: { resourceNames?: string[] }[] }).rules ?? []).flatMap((r) => (r.resourceNames ?? []).map((name) => ({ namespace: o.metadata.namespace!, name }))));
  const deadline = Date.now() + 10_000;
  for (const read of reads) {
    const review = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`,
        resourceAttributes: { namespace: read.namespace, verb: 'get', resource: 'secrets', name: read.name },
      },
    };
    for (;;) {
      const res = await call<{ status?: { allowed?: boolean } }>(admin, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { body: review });
      if (res.status?.allowed) break;
      if (Date.now() > deadline) throw new Error(`the Role for Secret ${read.namespace}/${read.name} does not take effect`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
