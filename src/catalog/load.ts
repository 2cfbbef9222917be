// Reads the ClusterClass and bundle catalogs from disk once, before rendering.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { UserError } from '../errors.js';
import { LABEL } from '../render/labels.js';
import type { BundleEntry, CapiVersion, Catalog, ClusterClassEntry, KubeObject } from './types.js';

/** The package root: catalogs ship next to src/. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CatalogOptions {
  clusterClassesDir?: string;
  bundlesDir?: string;
  /** Extra bundle folders of the user's; a folder here replaces a shipped bundle of the same name. */
  extraBundleDirs?: string[];
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function parseYamlFile(file: string): Promise<unknown[]> {
  const text = await readFile(file, 'utf8');
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) {
    if (d.errors.length > 0) throw new UserError(`${file}: invalid YAML: ${d.errors[0]!.message.split('\n')[0]}`, 2, 'fix the catalog file');
  }
  return list.map((d) => d.toJS()).filter((d) => d !== null && d !== undefined);
}

export async function loadCatalog(opts: CatalogOptions = {}): Promise<Catalog> {
  const ccDir = opts.clusterClassesDir ?? join(PACKAGE_ROOT, 'clusterclasses');
  const bDir = opts.bundlesDir ?? join(PACKAGE_ROOT, 'fleet-bundles');
  const [clusterClasses, shipped] = await Promise.all([loadClusterClasses(ccDir), loadBundles(bDir)]);
  const bundles = new Map(shipped);
  for (const extra of opts.extraBundleDirs ?? []) {
    for (const [name, entry] of await loadBundles(extra)) bundles.set(name, entry);
  }
  return { clusterClasses, bundles: new Map([...bundles].sort(([a], [b]) => (a < b ? -1 : 1))) };
}

async function loadClusterClasses(dir: string): Promise<ClusterClassEntry[]> {
  const out: ClusterClassEntry[] = [];
  if (!(await exists(dir))) return out;
  for (const provider of (await readdir(dir)).sort()) {
    const cni = await loadCni(join(dir, provider, 'cni'));
    for (const version of ['v1beta2', 'v1beta1'] as CapiVersion[]) {
      const vdir = join(dir, provider, version);
      if (!(await exists(vdir))) continue;
      const objects: KubeObject[] = [];
      for (const f of (await readdir(vdir)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
        objects.push(...((await parseYamlFile(join(vdir, f))) as KubeObject[]));
      }
      const cc = objects.find((o) => o.kind === 'ClusterClass');
      if (!cc) throw new UserError(`${vdir}: no ClusterClass in the catalog folder`, 2, 'add the ClusterClass document');
      const workers = (cc.spec as { workers?: { machineDeployments?: { class: string }[] } }).workers?.machineDeployments ?? [];
      out.push({ provider, capiVersion: version, baseName: cc.metadata.name, objects, workerClasses: workers.map((w) => w.class), ...(cni ? { cni } : {}) });
    }
  }
  return out;
}

/** A provider's cni/<name>.yaml: at most one, and its DaemonSet must take the pod CIDR from POD_SUBNET. */
async function loadCni(dir: string): Promise<ClusterClassEntry['cni']> {
  if (!(await exists(dir))) return undefined;
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (files.length !== 1) throw new UserError(`${dir}: expected one CNI manifest, found ${files.length}`, 2, 'keep one <cni>.yaml in the folder');
  const file = join(dir, files[0]!);
  const objects = (await parseYamlFile(file)) as KubeObject[];
  const hasSubnet = objects.some((o) => o.kind === 'DaemonSet' && JSON.stringify(o).includes('"name":"POD_SUBNET"'));
  if (!hasSubnet) throw new UserError(`${file}: no DaemonSet with a POD_SUBNET env`, 2, 'the renderer sets the pod CIDR through POD_SUBNET');
  return { name: files[0]!.replace(/\.ya?ml$/, ''), objects };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

async function loadBundles(dir: string): Promise<Map<string, BundleEntry>> {
  const out = new Map<string, BundleEntry>();
  if (!(await exists(dir))) return out;
  for (const e of (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const bdir = join(dir, e.name);
    const fleetFile = join(bdir, 'fleet.yaml');
    if (!(await exists(fleetFile))) continue;
    const [fleetYaml] = (await parseYamlFile(fleetFile)) as Record<string, unknown>[];
    const files = [];
    for (const f of await listFiles(bdir)) {
      const rel = relative(bdir, f).split(sep).join('/');
      if (rel === 'fleet.yaml' || rel === 'README.md') continue;
      files.push({ path: rel, content: await readFile(f, 'utf8') });
    }
    const deps = ((fleetYaml?.dependsOn as { selector?: { matchLabels?: Record<string, string> } }[] | undefined) ?? [])
      .map((d) => d.selector?.matchLabels?.[LABEL.bundle])
      .filter((d): d is string => typeof d === 'string');
    out.set(e.name, { name: e.name, fleetYaml: fleetYaml ?? {}, files, dependsOn: deps });
  }
  return out;
}
