// Offline check of rendered objects against the upstream CRDs' OpenAPI schemas with ajv. The API
// server prunes unknown fields of structural schemas silently, so here unknown fields are errors:
// a misspelt field would otherwise vanish on the way to the cluster. The server-side check
// (`validate --server`) adds what only Kubernetes knows: CEL rules, defaulting, core kinds.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../catalog/types.js';
import type { RenderedFile } from '../render/index.js';

type Schema = Record<string, unknown>;

export interface CrdIndex {
  /** "group/version/Kind" → validator */
  validators: Map<string, ValidateFunction>;
  /** Kinds whose CRD is known, to tell "unknown kind" from "core kind". */
  groups: Set<string>;
}

export interface ObjectProblem {
  file: string;
  object: string;
  message: string;
}

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFiles(p)));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** Schemas are tightened: objects with declared properties reject unknown ones, as kubectl's strict field validation does. */
function tighten(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(tighten);
  if (!schema || typeof schema !== 'object') return schema;
  const s: Schema = {};
  for (const [k, v] of Object.entries(schema as Schema)) {
    if (k === 'x-kubernetes-validations') continue;
    s[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Schema).map(([pk, pv]) => [pk, tighten(pv)])) : tighten(v);
  }
  if (s.type === 'object' && s.properties && !s['x-kubernetes-preserve-unknown-fields'] && s.additionalProperties === undefined) {
    // metadata is validated by the server's own ObjectMeta schema, not the CRD's.
    s.additionalProperties = false;
  }
  if (s['x-kubernetes-int-or-string']) {
    delete s.type;
    s.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  // OpenAPI's nullable is JSON Schema's "or null".
  if (s.nullable === true) {
    if (typeof s.type === 'string') s.type = [s.type, 'null'];
  }
  delete s.nullable;
  return s;
}

export async function loadCrds(dir: string): Promise<CrdIndex> {
  const exists = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!exists) throw new Error(`CRD folder ${dir} not found`);
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const validators = new Map<string, ValidateFunction>();
  const groups = new Set<string>();
  for (const file of await yamlFiles(dir)) {
    for (const doc of parseAllDocuments(await readFile(file, 'utf8')) as ReturnType<typeof parseAllDocuments> & unknown[]) {
      const crd = doc.toJS() as { kind?: string; spec?: { group: string; names: { kind: string }; versions: { name: string; schema?: { openAPIV3Schema?: Schema } }[] } } | null;
      if (crd?.kind !== 'CustomResourceDefinition' || !crd.spec) continue;
      groups.add(crd.spec.group);
      for (const v of crd.spec.versions) {
        const schema = v.schema?.openAPIV3Schema;
        if (!schema) continue;
        const key = `${crd.spec.group}/${v.name}/${crd.spec.names.kind}`;
        const tight = tighten(schema) as Schema;
        (tight.properties as Schema | undefined) && ((tight.properties as Schema).metadata = { type: 'object' });
        // Compile lazily: some CRD schemas are large and most are never used in one run.
        let compiled: ValidateFunction | undefined;
        const lazy = ((data: unknown) => {
          compiled ??= ajv.compile(tight);
          const ok = compiled(data);
          lazy.errors = compiled.errors;
          return ok;
        }) as ValidateFunction;
        validators.set(key, lazy);
      }
    }
  }
  return { validators, groups };
}

/** Fleet has no CRD for fleet.yaml; its BundleSpec is the Bundle CRD's spec, with targetCustomizations as targets. */
export function fleetYamlAsBundle(fleet: Record<string, unknown>): KubeObject {
  const { name: _n, labels: _l, targetCustomizations, overrideTargets: _o, imageScans: _i, ...spec } = fleet;
  return {
    apiVersion: 'fleet.cattle.io/v1alpha1',
    kind: 'Bundle',
    metadata: { name: 'fleet-yaml' },
    spec: { ...spec, ...(targetCustomizations ? { targets: targetCustomizations } : {}) },
  };
}

export function objectsOf(file: RenderedFile): KubeObject[] {
  if (!/\.ya?ml$/.test(file.path)) return [];
  // A bundle's templates/ are Helm templates that Fleet's agent renders against the cluster (the
  // ServiceMonitors, present only where their CRD is): not objects until then.
  if (/(^|\/)bundles\/[^/]+\/templates\//.test(file.path)) return [];
  const docs = parseAllDocuments(file.content) as unknown as { toJS(): unknown }[];
  const objs = docs.map((d) => d.toJS()).filter((o): o is Record<string, unknown> => !!o && typeof o === 'object');
  if (file.path.endsWith('fleet.yaml')) return objs.map((o) => fleetYamlAsBundle(o));
  return objs.filter((o): o is KubeObject => typeof o.apiVersion === 'string' && typeof o.kind === 'string');
}

export function describe(o: KubeObject): string {
  return `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? '?'} (${o.apiVersion})`;
}

export interface OfflineReport {
  checked: number;
  /** Core Kubernetes kinds: checked by the server only. */
  skipped: number;
  problems: ObjectProblem[];
}

export function validateOffline(files: readonly RenderedFile[], crds: CrdIndex): OfflineReport {
  const report: OfflineReport = { checked: 0, skipped: 0, problems: [] };
  for (const file of files) {
    for (const o of objectsOf(file)) {
      const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
      const validate = crds.validators.get(`${group}/${version}/${o.kind}`);
      if (!validate) {
        if (group && crds.groups.has(group!)) {
          report.problems.push({ file: file.path, object: describe(o), message: `no CRD serves ${o.apiVersion} ${o.kind}` });
        } else report.skipped++;
        continue;
      }
      report.checked++;
      if (!validate(o)) {
        for (const err of validate.errors ?? []) {
          const extra = err.keyword === 'additionalProperties' ? ` "${(err.params as { additionalProperty: string }).additionalProperty}"` : '';
          report.problems.push({ file: file.path, object: describe(o), message: `${err.instancePath || '/'} ${err.message}${extra}` });
        }
      }
    }
  }
  return report;
}
