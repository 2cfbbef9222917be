// One cluster-autoscaler per workload cluster, running on the management cluster next to the CAPI
// objects it scales (clusterapi provider) and watching the workload's nodes through the kubeconfig
// Secret CAPI writes for every cluster. Its RBAC reaches only the cluster's own namespace.
import type { KubeObject } from '../catalog/types.js';
import type { Cluster, Stack } from '../spec/schema.js';
import { clusterNamespace } from './cluster.js';
import { LABEL, MANAGED_BY } from './labels.js';
import { DNS_EGRESS, policy } from './apps/network.js';
import { restrictedContainerSecurity, restrictedPodSecurity } from './apps/security.js';
import { dnsName } from './names.js';

/** Autoscaler releases by Kubernetes minor: the autoscaler's minor must match the workload's. */
const AUTOSCALER_VERSIONS: Record<number, string> = {
  30: 'v1.30.0',
  31: 'v1.31.0',
  32: 'v1.32.0',
  33: 'v1.33.6',
  34: 'v1.34.0',
  35: 'v1.35.0',
};

export function autoscalerImage(kubernetesVersion: string): string {
  const minor = Number(kubernetesVersion.split('.')[1]);
  const known = Object.keys(AUTOSCALER_VERSIONS).map(Number);
  const pick = AUTOSCALER_VERSIONS[minor] ?? AUTOSCALER_VERSIONS[minor > Math.max(...known) ? Math.max(...known) : Math.min(...known)];
  return `registry.k8s.io/autoscaling/cluster-autoscaler:${pick}`;
}

export function autoscalerName(cluster: Cluster): string {
  return dnsName([cluster.name, 'autoscaler']);
}

/** Whether a cluster needs an autoscaler at all: only when one of its pools is autoscaled. */
export function needsAutoscaler(cluster: Cluster): boolean {
  return cluster.nodePools.some((p) => p.autoscaling);
}

export function renderAutoscaler(stack: Stack, cluster: Cluster, infraTemplatePlural: string[]): KubeObject[] {
  const namespace = clusterNamespace(stack, cluster);
  const name = autoscalerName(cluster);
  const labels = {
    'app.kubernetes.io/name': 'cluster-autoscaler',
    'app.kubernetes.io/instance': name,
    [LABEL.stack]: stack.metadata.name,
    [LABEL.cluster]: cluster.name,
    [LABEL.managedBy]: MANAGED_BY,
  };
  const meta = { name, namespace, labels };
  const capi = 'cluster.x-k8s.io';
  const rules = [
    { apiGroups: [capi], resources: ['machinedeployments', 'machinepools', 'machinesets', 'machines'], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
    { apiGroups: [capi], resources: ['machinedeployments/scale', 'machinepools/scale', 'machinesets/scale'], verbs: ['get', 'update', 'patch'] },
    // Scale from zero reads node shape from the infrastructure machine templates when annotations lack it.
    { apiGroups: ['infrastructure.cluster.x-k8s.io'], resources: [...infraTemplatePlural].sort(), verbs: ['get', 'list', 'watch'] },
  ];
  // Nothing calls the autoscaler; it calls two API servers (this cluster's and, through the kubeconfig
  // Secret, the workload's), on 443 or 6443 at addresses only known at run time.
  const networkPolicy = policy(name, { matchLabels: { 'app.kubernetes.io/instance': name } }, {
    ingress: [],
    egress: [DNS_EGRESS, { ports: [443, 6443].map((port) => ({ protocol: 'TCP', port })) }],
  });
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta,
      spec: {
        replicas: 1,
        selector: { matchLabels: { 'app.kubernetes.io/instance': name } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            securityContext: restrictedPodSecurity(65532),
            terminationGracePeriodSeconds: 10,
            containers: [
              {
                name: 'cluster-autoscaler',
                image: autoscalerImage(cluster.kubernetesVersion),
                command: ['/cluster-autoscaler'],
                args: [
                  '--cloud-provider=clusterapi',
                  // Nodes live in the workload cluster; Machines in this (management) cluster.
                  '--kubeconfig=/etc/kubernetes/workload/value',
                  '--clusterapi-cloud-config-authoritative',
                  `--node-group-auto-discovery=clusterapi:namespace=${namespace},clusterName=${cluster.name}`,
                  '--namespace=kube-system',
                  '--status-config-map-name=cluster-autoscaler-status',
                  '--expander=least-waste',
                  '--balance-similar-node-groups',
                  '--scale-down-unneeded-time=5m',
                  '--v=2',
                ],
                env: [{ name: 'CAPI_GROUP', value: capi }],
                // --address (default :8085) serves /metrics and /health-check; the latter fails once the
                // main loop has not run for --max-inactivity (10 min), so a stuck autoscaler restarts.
                ports: [{ name: 'http', containerPort: 8085 }],
                startupProbe: { httpGet: { path: '/health-check', port: 'http' }, periodSeconds: 5, failureThreshold: 24 },
                livenessProbe: { httpGet: { path: '/health-check', port: 'http' }, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 },
                // Ready: serving; nothing routes to it, so this only paces a rollout.
                readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 10 },
                resources: {
                  requests: { cpu: '50m', memory: '128Mi', 'ephemeral-storage': '50Mi' },
                  limits: { cpu: '1', memory: '512Mi', 'ephemeral-storage': '256Mi' },
                },
                securityContext: restrictedContainerSecurity(true),
                volumeMounts: [{ name: 'workload-kubeconfig', mountPath: '/etc/kubernetes/workload', readOnly: true }],
              },
            ],
            volumes: [{ name: 'workload-kubeconfig', secret: { secretName: `${cluster.name}-kubeconfig`, optional: false } }],
          },
        },
      },
    },
    ...(stack.spec.apps.networkPolicies ? [{ ...networkPolicy, metadata: { ...networkPolicy.metadata, namespace, labels } }] : []),
  ];
}
