// The real Helm (scripts/build-go-tool.sh helm: the version whose SDK Fleet v0.16.1's agent deploys with),
// rendering the chart Fleet makes of a raw-YAML bundle against a real API server, as the agent does:
// Capabilities from that server's discovery. Fleet's chart is a generated Chart.yaml plus the
// bundle's templates/ folder as the chart's templates; the bundle's other files are added after
// rendering, unchanged (rancher/fleet v0.16.1 internal/helmdeployer/render/helm.go, postrender.go),
// so they play no part here.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './kube.js';
import { repoRoot } from './paths.js';

const execFileP = promisify(execFile);

let built: Promise<string> | undefined;

/** The Helm binary, built once per machine (a few minutes the first time). */
export function ensureHelm(): Promise<string> {
  built ??= execFileP('bash', [path.join(repoRoot, 'scripts/build-go-tool.sh'), 'helm'], { timeout: 900_000, maxBuffer: 1 << 24 }).then(
    ({ stdout }) => stdout.trim().split('\n').at(-1)!,
    (err: Error & { stderr?: string }) => {
      built = undefined;
      throw new Error(`scripts/build-go-tool.sh helm failed: ${err.message}\n${err.stderr ?? ''}`);
    },
  );
  return built;
}

/**
 * `helm template --dry-run=server` of a bundle's templates (path in the bundle → text) into
 * `namespace`, with the Capabilities of the cluster `kubeconfigPath` names. Helm's own state
 * (config, cache) lives in a temp dir removed afterwards.
 */
export async function renderBundleTemplates(templates: ReadonlyMap<string, string>, opts: { kubeconfigPath: string; namespace: string; release?: string }): Promise<KubeObject[]> {
  const helm = await ensureHelm();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llmstack-helm-'));
  try {
    const chart = path.join(dir, 'chart');
    mkdirSync(path.join(chart, 'templates'), { recursive: true });
    // What Fleet's addChartYAML writes: apiVersion v2, the bundle's name, a version from the manifest.
    writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: bundle\nversion: v0.0.0+test\n');
    for (const [p, text] of templates) {
      if (!p.startsWith('templates/') || p.includes('..')) throw new Error(`not a template path: ${p}`);
      mkdirSync(path.dirname(path.join(chart, p)), { recursive: true });
      writeFileSync(path.join(chart, p), text);
    }
    const home = path.join(dir, 'home');
    const { stdout } = await execFileP(helm, ['template', opts.release ?? 'bundle', chart, '--namespace', opts.namespace, '--dry-run=server', '--kubeconfig', opts.kubeconfigPath], {
      timeout: 120_000,
      maxBuffer: 1 << 24,
      env: { PATH: '/usr/bin:/bin', HOME: home, HELM_CONFIG_HOME: path.join(home, 'config'), HELM_CACHE_HOME: path.join(home, 'cache'), HELM_DATA_HOME: path.join(home, 'data'), NO_PROXY: '127.0.0.1,localhost' },
    });
    return parseAllDocuments(stdout)
      .map((d) => {
        if (d.errors.length) throw new Error(`helm printed YAML that does not parse: ${d.errors[0]!.message}\n${stdout}`);
        return d.toJS() as KubeObject | null;
      })
      .filter((o): o is KubeObject => !!o);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
