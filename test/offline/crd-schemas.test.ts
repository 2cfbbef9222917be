// Every object rendered from every example, for both CAPI API versions, against the upstream CRD
// schemas (offline; the cluster project repeats this on a real API server).
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { loadCrds, validateOffline, type CrdIndex } from '../../src/validate/offline.js';
import { CAPI_VERSIONS, exampleFiles, renderExample } from '../support/examples.js';
import { sharedDir } from '../support/paths.js';

let catalog: Catalog;
let crds: CrdIndex;

beforeAll(async () => {
  catalog = await loadCatalog();
  crds = await loadCrds(path.join(sharedDir(), 'crds'));
});

describe('rendered objects match the upstream CRD schemas', () => {
  it('has the four example specs the docs promise', () => {
    expect(exampleFiles).toEqual(['caapf.yaml', 'gpu-scale-from-zero.yaml', 'quickstart.yaml', 'three-clusters.yaml']);
  });

  for (const file of exampleFiles) {
    for (const version of CAPI_VERSIONS) {
      it(`${file} with CAPI ${version}`, () => {
        const report = validateOffline(renderExample(file, version, catalog), crds);
        expect(report.problems).toEqual([]);
        // ClusterClass + 7 templates + Cluster + fleet.yaml bundles at least.
        expect(report.checked).toBeGreaterThan(15);
      });
    }
  }

  it('reports a misspelt field with its path instead of letting the server prune it', () => {
    const files = renderExample('quickstart.yaml', 'v1beta2', catalog);
    const cluster = files.find((f) => f.path.endsWith('/cluster.yaml'))!;
    const broken = { path: cluster.path, content: cluster.content.replace('controlPlane:', 'controlPlan:') };
    const report = validateOffline([broken], crds);
    expect(report.problems).toEqual([
      {
        file: 'management/clusters/default/llm-workload/cluster.yaml',
        object: 'Cluster default/llm-workload (cluster.x-k8s.io/v1beta2)',
        message: '/spec/topology must NOT have additional properties "controlPlan"',
      },
    ]);
  });

  it('reports a kind the CRD group does not serve in that version', () => {
    const report = validateOffline(
      [{ path: 'x.yaml', content: 'apiVersion: cluster.x-k8s.io/v1alpha3\nkind: Cluster\nmetadata: {name: a}\n' }],
      crds,
    );
    expect(report.problems).toEqual([{ file: 'x.yaml', object: 'Cluster a (cluster.x-k8s.io/v1alpha3)', message: 'no CRD serves cluster.x-k8s.io/v1alpha3 Cluster' }]);
  });
});
