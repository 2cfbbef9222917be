// kube-score (built from its Go module by scripts/build-go-tool.sh kube-score, version pinned in
// scripts/testbin-versions.env) finds nothing critical in the plain manifests llmstack renders or
// ships: the app bundles' manifests, each cluster's autoscaler, and the controller's install.
//
// Ignored on purpose (IGNORED and IGNORED_FOR below), with the reason:
// - container-image-pull-policy: every image is pinned to a release tag, and `Always` would make each
//   pod start (and every Knative scale from zero) depend on the registry answering.
// - networkpolicy-targets-pod, for the ollama policy only: its pods come from the Knative Service,
//   which kube-score does not read; test/offline/network-policies.test.ts shows it selects them.
//
// It needs no API server; it lives with the cluster tests because it needs Go, as they do.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { describeCluster } from '../support/cluster.js';
import { exampleCases, renderExample } from '../support/examples.js';
import { repoRoot } from '../support/paths.js';

const execFileP = promisify(execFile);

const IGNORED: Record<string, string> = {
  'container-image-pull-policy': 'images are pinned to release tags; Always makes every pod start depend on the registry',
};

/** Checks ignored for one object (`<kind> <name>`), each with its reason. */
const IGNORED_FOR: Record<string, Record<string, string>> = {
  'NetworkPolicy ollama': { 'networkpolicy-targets-pod': 'pods made by Knative from the Service; checked by the NetworkPolicy evaluator test' },
};

/** kube-score's JSON grades (scorecard.Grade): 1 critical, 5 warning, 7 almost OK, 10 OK. */
const CRITICAL = 1;

interface ScoredObject {
  object_name: string;
  type_meta: { kind: string };
  object_meta: { name: string; namespace?: string };
  file_name: string;
  checks: { check: { id: string; name: string }; grade: number; skipped: boolean; comments: { path: string; summary: string }[] | null }[];
}

let kubeScore: string;
let catalog: Catalog;
let work: string;

async function score(files: string[]): Promise<ScoredObject[]> {
  const args = ['score', '--output-format', 'json', ...Object.keys(IGNORED).flatMap((id) => ['--ignore-test', id]), ...files];
  // kube-score exits 1 when it finds a critical problem; the JSON on stdout is what the test reads.
  const out = await execFileP(kubeScore, args, { maxBuffer: 32 * 1024 * 1024 }).catch((e: { stdout?: string; code?: number }) => {
    if (e.code === 1 && e.stdout) return { stdout: e.stdout };
    throw e;
  });
  return JSON.parse(out.stdout) as ScoredObject[];
}

function inNamespace(text: string, namespace: string): string {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as { kind: string; metadata: Record<string, unknown> } | null)
    .filter((o): o is { kind: string; metadata: Record<string, unknown> } => !!o)
    .map((o) => stringify(o.kind === 'Namespace' || o.metadata.namespace ? o : { ...o, metadata: { ...o.metadata, namespace } }))
    .join('---\n');
}

function criticals(objects: ScoredObject[]): string[] {
  return objects.flatMap((o) =>
    o.checks
      .filter((c) => !c.skipped && c.grade === CRITICAL && !IGNORED_FOR[`${o.type_meta.kind} ${o.object_meta.name}`]?.[c.check.id])
      .map((c) => `${path.basename(o.file_name)} ${o.type_meta.kind} ${o.object_name}: ${c.check.id}: ${(c.comments ?? []).map((x) => x.summary).join('; ')}`),
  );
}

describeCluster('kube-score on the rendered plain manifests', () => {
  beforeAll(async () => {
    const built = await execFileP('bash', [path.join(repoRoot, 'scripts/build-go-tool.sh'), 'kube-score'], { timeout: 900_000 });
    kubeScore = built.stdout.trim().split('\n').pop()!;
    catalog = await loadCatalog();
    work = mkdtempSync(path.join(os.tmpdir(), 'llmstack-kube-score-'));
  }, 900_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  for (const file of exampleCases) {
    it(`finds nothing critical in ${file}`, async () => {
      const dir = mkdtempSync(path.join(work, 'ex-'));
      const written: string[] = [];
      for (const f of renderExample(file, 'v1beta2', catalog)) {
        // Plain manifests only: fleet.yaml is Fleet's options file, not an object.
        if (!f.path.endsWith('.yaml') || f.path.endsWith('fleet.yaml') || f.path.startsWith('management/clusterclasses/') || f.path.startsWith('bootstrap/')) continue;
        // Helm templates (the ServiceMonitors): no workloads, and not YAML until Fleet's agent renders them.
        if (/^bundles\/[^/]+\/templates\//.test(f.path)) continue;
        if (f.path.endsWith('cluster.yaml')) continue;
        const target = path.join(dir, f.path.replaceAll('/', '__'));
        // Fleet applies a bundle's objects into its namespace (llm); kube-score matches policies,
        // budgets and Services to pods by namespace, so the files say it as Fleet would.
        writeFileSync(target, f.path.startsWith('bundles/') ? inNamespace(f.content, 'llm') : f.content);
        written.push(target);
      }
      const objects = await score(written);
      expect(objects.filter((o) => o.type_meta.kind === 'Deployment').length).toBeGreaterThan(0);
      expect(criticals(objects)).toEqual([]);
    });
  }

  it("finds nothing critical in the controller's install (manifests/controller)", async () => {
    const dir = path.join(repoRoot, 'manifests/controller');
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
      .map((f) => path.join(dir, f));
    const objects = await score(files);
    expect(objects.map((o) => o.type_meta.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy']));
    expect(criticals(objects)).toEqual([]);
  });

  it('reports a critical finding when there is one (the check can fail)', async () => {
    const bare = path.join(work, 'bare.yaml');
    writeFileSync(
      bare,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bare}\nspec:\n  selector: {matchLabels: {app: bare}}\n  template:\n    metadata: {labels: {app: bare}}\n    spec:\n      containers: [{name: c, image: "example.test/bare:1.0"}]\n',
    );
    const found = criticals(await score([bare]));
    expect(found.some((f) => f.includes('container-resources'))).toBe(true);
    expect(found.some((f) => f.includes('container-security-context-user-group-id'))).toBe(true);
  });
});
