// Open WebUI's chart values that llmstack owns: hardened pod, probes, resources, and the objects the
// chart has no template for (its PodDisruptionBudget and NetworkPolicy) as the chart's extraResources.
// Shapes follow chart open-webui 15.1.0 (templates/workload-manager.yaml, extra-resources.yaml).
import type { KubeObject } from '../../catalog/types.js';
import { restrictedContainerSecurity, restrictedPodSecurity } from './security.js';

/** The chart's release name (fleet-bundles/openwebui/fleet.yaml) and the pod labels it selects on. */
export const OPENWEBUI_RELEASE = 'open-webui';
export const OPENWEBUI_LABELS = { 'app.kubernetes.io/instance': OPENWEBUI_RELEASE, 'app.kubernetes.io/component': 'open-webui' } as const;
export const OPENWEBUI_PORT = 8080;
/** Chart data volume mount; the generated secret key lives there, not in the image. */
const DATA_DIR = '/app/backend/data';

/** Values merged over the catalog's; `extra` (NetworkPolicies) joins the budget in extraResources. */
export function openwebuiValues(extra: KubeObject[]): Record<string, unknown> {
  return {
    // The image starts as any uid since 0.6.23, but writes its generated key next to start.sh (inside the
    // image) unless told otherwise, and copies its static files into the image at start: its root
    // filesystem stays writable, everything else is restricted.
    podSecurityContext: restrictedPodSecurity(10001, { fsGroup: true }),
    containerSecurityContext: restrictedContainerSecurity(false),
    extraEnvVars: [{ name: 'WEBUI_SECRET_KEY_FILE', value: `${DATA_DIR}/.webui_secret_key` }],
    resources: { requests: { cpu: '200m', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } },
    copyAppData: { resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '500m', memory: '128Mi' } } },
    // First start runs the database migrations: up to 5 minutes before the other probes count.
    startupProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 5, failureThreshold: 60 },
    livenessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    readinessProbe: { httpGet: { path: '/health/db', port: 'http' }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    extraResources: [openwebuiPdb(), ...extra],
  };
}

/**
 * One replica on a ReadWriteOnce volume cannot stay up through a drain, whatever the budget says. The
 * reference's `maxUnavailable: 0` makes every drain of that node wait forever (a CAPI rollout of the
 * MachineDeployment, a Kubernetes upgrade, the autoscaler's scale-down all stall). `maxUnavailable: 1`
 * lets a drain move it (a minute of downtime) and still limits disruptions to one pod at a time when
 * replicaCount is raised on shared (RWX) storage.
 */
function openwebuiPdb(): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: OPENWEBUI_RELEASE, labels: { 'app.kubernetes.io/part-of': 'llmstack' } },
    spec: { maxUnavailable: 1, selector: { matchLabels: { ...OPENWEBUI_LABELS } } },
  };
}
