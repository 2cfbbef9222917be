// LiteLLM scales on CPU: a HorizontalPodAutoscaler between spec.apps.litellm.replicas and
// autoscaling.max (metrics-server, a base bundle, serves the CPU figures), and a disruption budget
// once it can run more than one pod. The Deployment leaves replicas to the HPA then, or every Fleet
// sync would reset what the HPA chose.
import type { KubeObject } from '../../catalog/types.js';
import type { Apps } from '../../spec/schema.js';
import { LITELLM_LABELS } from './litellm.js';

export function litellmAutoscaled(apps: Apps): boolean {
  return apps.litellm.autoscaling.max > apps.litellm.replicas;
}

export function litellmScaling(apps: Apps): KubeObject[] {
  const l = apps.litellm;
  const labels = { ...LITELLM_LABELS, 'app.kubernetes.io/part-of': 'llmstack' };
  const out: KubeObject[] = [];
  if (litellmAutoscaled(apps)) {
    out.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'litellm', labels },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'litellm' },
        minReplicas: l.replicas,
        maxReplicas: l.autoscaling.max,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: l.autoscaling.cpu } } }],
        // Streams last minutes: scale down slowly so a burst's pods are not cut mid-answer.
        behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } },
      },
    });
  }
  if (l.autoscaling.max > 1) {
    // maxUnavailable 1: drains go one pod at a time, and never block (even at one replica).
    out.push({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'litellm', labels },
      spec: { maxUnavailable: 1, selector: { matchLabels: { ...LITELLM_LABELS } } },
    });
  }
  return out;
}
