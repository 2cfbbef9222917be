// `llmstack validate`: the spec (always), then every rendered object against the upstream CRD
// schemas offline (--crds), and/or against a live API server as a server-side dry run (--server).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../catalog/load.js';
import { EXIT, UserError } from '../errors.js';
import { loadKubeConfig, serverDryRun } from '../kube/client.js';
import { renderStack } from '../render/index.js';
import { loadCrds, objectsOf, validateOffline } from '../validate/offline.js';
import { loadInputs, type SpecOptions } from './common.js';

export interface ValidateOptions extends SpecOptions {
  crds?: string;
  server?: boolean;
  kubeconfig?: string;
}

/** --crds, else $LLMSTACK_CRDS_DIR, else a `shared/crds` folder beside a source checkout. */
async function crdDir(o: ValidateOptions): Promise<string | undefined> {
  const candidates = [o.crds, process.env.LLMSTACK_CRDS_DIR, join(PACKAGE_ROOT, '..', 'shared', 'crds')];
  for (const c of candidates) {
    if (c && (await stat(c).then((s) => s.isDirectory(), () => false))) return c;
    if (c === o.crds && c) throw new UserError(`--crds ${c}: no such folder`, EXIT.invalidInput, 'point --crds at a folder of CustomResourceDefinition YAML files');
  }
  return undefined;
}

export async function validateCommand(o: ValidateOptions, print: (s: string) => void, note: (s: string) => void): Promise<number> {
  const { stack, catalog, specPath } = await loadInputs(o, note);
  const files = renderStack(stack, catalog).files;
  print(`${specPath}: spec is valid (${stack.spec.clusters.length} clusters, ${files.length} files rendered)`);
  let failed = 0;

  const dir = await crdDir(o);
  if (dir) {
    const report = validateOffline(files, await loadCrds(dir));
    for (const p of report.problems) print(`  ${p.file}: ${p.object}: ${p.message}`);
    print(`offline: ${report.checked} objects checked against CRD schemas, ${report.problems.length} problems, ${report.skipped} core objects left to --server`);
    failed += report.problems.length;
  } else if (!o.server) {
    note('object schemas not checked: pass --crds DIR (CRD YAML files) or --server (a live API server)');
  }

  if (o.server) {
    const kc = await loadKubeConfig(o.kubeconfig);
    const sent = files.flatMap((f) => objectsOf(f).map((object) => ({ file: f.path, object })));
    const results = await serverDryRun(kc, sent.map((x) => x.object));
    const bad = results.flatMap((r, i) => (r.ok ? [] : [{ ...r, file: sent[i]!.file, apiVersion: sent[i]!.object.apiVersion }]));
    for (const r of bad) print(`  ${r.file}: ${r.ref} (${r.apiVersion}): ${r.message}`);
    print(`server: ${results.length - bad.length}/${results.length} objects accepted by ${kc.getCurrentCluster()?.server}`);
    failed += bad.length;
  }
  return failed > 0 ? EXIT.changes : EXIT.ok;
}
