// A synthetic spec of N clusters with every app, for benchmarks.
import type { StackInput } from '../../src/spec/schema.js';

export function bigSpec(clusters: number): StackInput {
  return {
    apiVersion: 'llmstack.dev/v1alpha1',
    kind: 'Stack',
    metadata: { name: 'bench' },
    spec: {
      clusterClasses: [{ name: 'docker-llm', provider: 'docker' }],
      clusters: Array.from({ length: clusters }, (_, i) => ({
        name: `cluster-${String(i).padStart(4, '0')}`,
        namespace: `team-${i % 20}`,
        class: 'docker-llm',
        labels: { env: i % 2 ? 'prod' : 'dev' },
        nodePools: [
          { name: 'md-0', autoscaling: { min: 1, max: 5 }, capacity: { cpu: '4', memory: '16Gi' } },
          { name: 'gpu', class: 'gpu-worker', autoscaling: { min: 0, max: 2 }, capacity: { cpu: '8', memory: '32Gi', gpu: { type: 'nvidia.com/gpu', count: 1 } } },
        ],
        apps: ['ollama', 'litellm', 'openwebui'],
      })),
    },
  };
}
