// `llmstack validate`: the spec (always), then every rendered object against the upstream CRD
// schemas offline (--crds), and/or against a live API server as a server-side dry run (--server).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../catalog/load.js';
import { EXIT, SpecError, UserError, type SpecIssue } from '../errors.js';
import { clusterError, loadKubeConfig, serverDryRun, type DryRunResult } from '../kube/client.js';
import { renderStack } from '../render/index.js';
import { loadCrds, objectsOf, validateOffline } from '../validate/offline.js';
import { formatOutput, loadInputs, type SpecOptions } from './common.js';

export interface ValidateOptions extends SpecOptions {
  crds?: string;
  server?: boolean;
  kubeconfig?: string;
  context?: string;
  /** For --server: the namespace of namespaced objects that name none. */
  namespace?: string;
  output?: 'text' | 'json' | 'yaml';
}

/** What -o json|yaml prints: every finding, for scripts and CI annotations. */
export interface ValidateReport {
  valid: boolean;
  spec: { file: string; valid: boolean; clusters?: number; files?: number; problems: SpecIssue[] };
  offline: { crds: string; checked: number; skipped: number; problems: { file: string; object: string; message: string }[] } | null;
  server: { server: string; checked: number; problems: { file: string; object: string; apiVersion: string; message: string; reason?: string }[] } | null;
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
  const machine = o.output === 'json' || o.output === 'yaml' ? o.output : undefined;
  const text = machine ? () => undefined : print;
  let loaded: Awaited<ReturnType<typeof loadInputs>>;
  try {
    loaded = await loadInputs(o, note);
  } catch (e) {
    // A machine reader gets the spec's problems on stdout too; the error (exit 2) still goes to stderr.
    if (machine && e instanceof SpecError) {
      const report: ValidateReport = { valid: false, spec: { file: e.issues[0]?.file ?? o.spec ?? '', valid: false, problems: e.issues }, offline: null, server: null };
      print(formatOutput(report, machine));
    }
    throw e;
  }
  const { stack, catalog, specPath } = loaded;
  const files = renderStack(stack, catalog).files;
  const report: ValidateReport = { valid: true, spec: { file: specPath, valid: true, clusters: stack.spec.clusters.length, files: files.length, problems: [] }, offline: null, server: null };
  text(`${specPath}: spec is valid (${stack.spec.clusters.length} clusters, ${files.length} files rendered)`);

  const dir = await crdDir(o);
  if (dir) {
    const r = validateOffline(files, await loadCrds(dir));
    for (const p of r.problems) text(`  ${p.file}: ${p.object}: ${p.message}`);
    text(`offline: ${r.checked} objects checked against CRD schemas, ${r.problems.length} problems, ${r.skipped} core objects left to --server`);
    report.offline = { crds: dir, checked: r.checked, skipped: r.skipped, problems: r.problems.map((p) => ({ file: p.file, object: p.object, message: p.message })) };
  } else if (!o.server) {
    note('object schemas not checked: pass --crds DIR (CRD YAML files) or --server (a live API server)');
  }

  if (o.server) {
    const kc = await loadKubeConfig(o.kubeconfig, o.context);
    const sent = files.flatMap((f) => objectsOf(f).map((object) => ({ file: f.path, object })));
    let results: DryRunResult[];
    try {
      results = await serverDryRun(kc, sent.map((x) => x.object), o.namespace ? { namespace: o.namespace } : {});
    } catch (e) {
      throw clusterError(kc, 'server-side dry run', e);
    }
    const bad = results.flatMap((r, i) => (r.ok ? [] : [{ ...r, file: sent[i]!.file, apiVersion: sent[i]!.object.apiVersion }]));
    for (const r of bad) text(`  ${r.file}: ${r.ref} (${r.apiVersion}): ${r.message}`);
    const server = kc.getCurrentCluster()?.server ?? '';
    text(`server: ${results.length - bad.length}/${results.length} objects accepted by ${server}`);
    report.server = {
      server,
      checked: results.length,
      problems: bad.map((r) => ({ file: r.file, object: r.ref, apiVersion: r.apiVersion, message: r.message ?? '', ...(r.reason ? { reason: r.reason } : {}) })),
    };
  }
  report.valid = !report.offline?.problems.length && !report.server?.problems.length;
  if (machine) print(formatOutput(report, machine));
  return report.valid ? EXIT.ok : EXIT.changes;
}
