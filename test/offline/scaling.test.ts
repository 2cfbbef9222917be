// LiteLLM's HorizontalPodAutoscaler and disruption budget, from spec.apps.litellm.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { renderLitellm } from '../../src/render/apps/litellm.js';
import { litellmScaling } from '../../src/render/apps/scaling.js';
import { SpecError } from '../../src/errors.js';
import { parseSpec } from '../../src/spec/load.js';

let catalog: Catalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

const spec = (litellm: string) =>
  parseSpec(`apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: s}\nspec:\n  apps:\n    litellm: ${litellm}\n`, 's.yaml', catalog);

describe('LiteLLM scaling', () => {
  it('autoscales on CPU from replicas to autoscaling.max by default, and leaves the count to the HPA', () => {
    const s = spec('{}');
    const [hpa, pdb] = litellmScaling(s.spec.apps);
    expect(hpa).toMatchObject({
      kind: 'HorizontalPodAutoscaler',
      spec: { scaleTargetRef: { kind: 'Deployment', name: 'litellm' }, minReplicas: 1, maxReplicas: 3, metrics: [{ resource: { name: 'cpu', target: { averageUtilization: 70 } } }] },
    });
    expect(pdb).toMatchObject({ kind: 'PodDisruptionBudget', spec: { maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'litellm' } } } });
    const deployment = renderLitellm(s).find((o) => o.kind === 'Deployment')!;
    expect((deployment.spec as { replicas?: number }).replicas).toBeUndefined();
  });

  it('renders no HPA when max equals replicas, and a budget only when more than one pod can run', () => {
    const fixed = spec('{replicas: 2, autoscaling: {max: 2}}');
    expect(litellmScaling(fixed.spec.apps).map((o) => o.kind)).toEqual(['PodDisruptionBudget']);
    expect((renderLitellm(fixed).find((o) => o.kind === 'Deployment')!.spec as { replicas?: number }).replicas).toBe(2);
    expect(litellmScaling(spec('{replicas: 1, autoscaling: {max: 1}}').spec.apps)).toEqual([]);
  });

  it('refuses a max below replicas, naming the field', () => {
    let error: unknown;
    try {
      spec('{replicas: 3, autoscaling: {max: 2}}');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecError);
    expect((error as SpecError).render()).toContain('spec.apps.litellm.autoscaling.max: autoscaling.max must not be smaller than replicas');
  });
});
